/**
 * `subwire serve --cluster URL --workers N` as a process (issue 14): N brokers share one port through
 * node:cluster, each its own node of the cluster on a real redis-server; the primary restarts a worker that
 * dies, stops them all on SIGTERM and leaves no process behind.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { connect, type Client } from '../../client/index.ts'
import { RawClient, sleep, within } from '../helpers.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../cluster/redis-server.ts'

const children = new Set<ChildProcess>()
const pidsToReap = new Set<number>()
let redis: TestRedis | null = null

test.before(async () => {
  if (haveRedisServer()) redis = await within(20_000, startRedis(), 'redis-server')
})
test.after(async () => {
  await redis?.close()
})
test.after.each(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
  // The workers exit with their primary (node:cluster), but a failed test must not leave one behind either.
  for (const pid of pidsToReap) if (alive(pid)) process.kill(pid, 'SIGKILL')
  pidsToReap.clear()
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

interface Served {
  child: ChildProcess
  url: string
  http: string
  workerPids: number[]
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/** The JSON log lines of the process so far. */
function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Starts `subwire serve` with `args` and waits for the primary's banner (printed once every worker listens). */
async function serve(args: string[], detached = false, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    // A process group of its own, as a shell gives a job: Ctrl-C signals the whole group.
    detached,
  })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const banner = await within(40_000, new Promise<RegExpMatchArray>((resolve, reject) => {
    const check = (): void => {
      const m = err.match(/listening on (ws:\/\/\S+)\n {2}monitor: {2}(http:\/\/\S+)\/[\s\S]* {2}workers: {2}\d+ broker processes share the port \(pids ([\d, ]+);/)
      if (m !== null) resolve(m)
    }
    child.stderr?.on('data', check)
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${err}`)))
  }), 'the workers banner')
  const workerPids = (banner[3] ?? '').split(', ').map(Number)
  for (const pid of workerPids) pidsToReap.add(pid)
  return { child, url: banner[1] ?? '', http: banner[2] ?? '', workerPids, stdout: () => out, stderr: () => err, exited }
}

/** Connects clients (at most `max`) until they reach `n` different brokers; returns one client per broker. */
async function clientsOnDistinctBrokers(url: string, n: number, max = 16): Promise<{ byServer: Map<string, Client>; all: Client[] }> {
  const byServer = new Map<string, Client>()
  const all: Client[] = []
  for (let i = 0; i < max && byServer.size < n; i++) {
    const c = await within(5000, connect(url, { reconnect: false }), `client ${i}`)
    all.push(c)
    const id = c.info?.serverId ?? ''
    if (!byServer.has(id)) byServer.set(id, c)
  }
  return { byServer, all }
}

const need = (): TestRedis | null => {
  if (redis === null) console.log('  (skipped: no redis-server)')
  return redis
}

test('--workers 2 runs two brokers on the one port, each its own node of the cluster (<nodeId>-<n> when the config names it)', async () => {
  const r = need()
  if (r === null) return
  const dir = mkdtempSync(join(tmpdir(), 'subwire-workers-'))
  const file = join(dir, 'subwire.json')
  writeFileSync(file, JSON.stringify({ port: 0, cluster: { redis: r.url, nodeId: 'box', name: `w${process.pid}` }, workers: 2, topics: [{ name: 'orders', subjects: ['orders.>'] }] }))
  const s = await serve(['--config', file, '--log-format', 'json'])
  rmSync(dir, { recursive: true, force: true })
  assert.is(s.workerPids.length, 2)
  assert.ok(s.workerPids.every(alive), 'both workers run')
  const { byServer, all } = await clientsOnDistinctBrokers(s.url, 2)
  try {
    assert.is(byServer.size, 2, 'clients of the one port land on both workers')
    const brokers = new Set(logLines(s.stdout()).filter((l) => l.msg === 'broker listening').map((l) => l.pid))
    assert.equal([...brokers].sort(), [...s.workerPids].sort(), 'each worker runs a broker')
    assert.is(/; nodes ([^;]+);/.exec(s.stderr())?.[1], 'box-1, box-2', 'each worker is its own node of the cluster')
    assert.match(s.stderr(), /\n {2}topics: {3}orders \(orders\.>; redis\)\n/, 'the config file\'s topics live in Redis')
    assert.not.match(s.stderr(), /\n {2}data: /, 'no data directory is shown for a node of a cluster')
    // What one worker stores, another replays: the workers share the topic.
    const [first, second] = [...byServer.values()] as [Client, Client]
    assert.is((await within(5000, first.publishAck('orders.eu', 'stored on one'), 'publishAck')).seq, 1)
    const replayed = await within(5000, new Promise<unknown>((resolve) => {
      second.subscribe('orders.>', { deliver: 'all', max: 1, callback: (_err, m) => { if (m !== null) resolve(m.data) } })
    }), 'the replay on the other worker')
    assert.is(replayed, 'stored on one')
  } finally {
    for (const c of all) await c.close()
  }
  s.child.kill('SIGTERM')
  assert.is(await within(15_000, s.exited, 'the primary to exit'), 0)
})

test('a publish from a client on one worker reaches a subscriber on another', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-level', 'silent'])
  const { byServer, all } = await clientsOnDistinctBrokers(s.url, 2)
  try {
    assert.is(byServer.size, 2, 'clients on both workers')
    const [pub, sub] = [...byServer.values()] as [Client, Client]
    const got: unknown[] = []
    sub.subscribe('orders.>', { callback: (_err, m) => { if (m !== null) got.push(m.data) } })
    await within(5000, sub.flush(), 'the subscription')
    // Interest crosses through Redis a moment later: publish until the first message arrives (bounded).
    for (let i = 0; i < 200 && got.length === 0; i++) {
      pub.publish('orders.eu', 'probe')
      await sleep(50)
    }
    assert.ok(got.length > 0, 'delivered across the workers')
    got.length = 0
    for (let i = 1; i <= 100; i++) pub.publish('orders.eu', i)
    for (let i = 0; i < 200 && got.filter((x) => typeof x === 'number').length < 100; i++) await sleep(25)
    assert.equal(got.filter((x) => typeof x === 'number'), Array.from({ length: 100 }, (_, i) => i + 1), 'once each, in order')
  } finally {
    for (const c of all) await c.close()
  }
  s.child.kill('SIGTERM')
  assert.is(await within(15_000, s.exited, 'the primary to exit'), 0)
})

test('the primary restarts a worker killed with SIGKILL, and SIGTERM to the primary stops every process', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-format', 'json'])
  const [victim, survivor] = s.workerPids as [number, number]
  process.kill(victim, 'SIGKILL')
  let restarted: number | undefined
  for (let i = 0; i < 400 && restarted === undefined; i++) {
    await sleep(50)
    restarted = logLines(s.stdout()).find((l) => l.msg === 'worker restarted and listening')?.workerPid as number | undefined
  }
  assert.ok(restarted !== undefined, `a new worker within 20 s:\n${s.stdout()}`)
  pidsToReap.add(restarted)
  assert.ok(alive(restarted) && restarted !== victim, 'a new process')
  assert.ok(alive(survivor), 'the other worker was left alone')
  assert.ok(logLines(s.stdout()).some((l) => l.msg === 'worker died: restarting it' && l.workerPid === victim && l.signal === 'SIGKILL'), 'the death is logged')
  const firstNode = (/; nodes ([^,;]+),/.exec(s.stderr())?.[1] ?? '').trim()
  const again = logLines(s.stdout()).find((l) => l.msg === 'worker restarted and listening')?.nodeId
  assert.ok(/^[0-9a-f]{10}-1$/.test(firstNode), `worker 1 is the node <drawn id>-1: ${firstNode}`)
  assert.is(again, firstNode, 'the restarted worker is the same node again')
  // The restarted node and the other one reach each other again, both ways.
  const { byServer, all } = await clientsOnDistinctBrokers(s.url, 2)
  try {
    assert.is(byServer.size, 2, 'clients on both workers')
    const [a, b] = [...byServer.values()] as [Client, Client]
    for (const [pub, sub, subject] of [[a, b, 'ab'], [b, a, 'ba']] as const) {
      let got = 0
      sub.subscribe(subject, { callback: () => { got++ } })
      await within(5000, sub.flush(), 'the subscription')
      for (let i = 0; i < 200 && got === 0; i++) {
        pub.publish(subject, i)
        await sleep(50)
      }
      assert.ok(got > 0, `delivered ${subject} across the workers after the restart`)
    }
  } finally {
    for (const c of all) await c.close()
  }
  s.child.kill('SIGTERM')
  assert.is(await within(15_000, s.exited, 'the primary to exit'), 0)
  for (let i = 0; i < 100 && (alive(survivor) || alive(restarted)); i++) await sleep(50)
  assert.not.ok(alive(survivor) || alive(restarted), 'no worker outlives the primary')
})

test('workers that keep dying are restarted with backoff until more than 10 restarts in a minute, then the primary stops with exit 1', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-format', 'json'])
  const killed = new Set<number>()
  const killNew = (): void => {
    const restarted = logLines(s.stdout()).filter((l) => l.msg === 'worker restarted and listening').map((l) => l.workerPid as number)
    for (const pid of [...s.workerPids, ...restarted]) {
      pidsToReap.add(pid)
      if (!killed.has(pid) && alive(pid)) { killed.add(pid); process.kill(pid, 'SIGKILL') }
    }
  }
  let code: number | null | undefined
  void s.exited.then((c) => { code = c })
  for (let i = 0; i < 1800 && code === undefined; i++) {
    killNew()
    await sleep(50)
  }
  assert.is(code, 1, `the primary gave up:\n${s.stdout().slice(-2000)}`)
  const lines = logLines(s.stdout())
  const deaths = lines.filter((l) => l.msg === 'worker died: restarting it').map((l) => l.restartInMs as number)
  assert.is(deaths.length, 10, 'ten restarts, then it stops')
  assert.ok(deaths.slice(2).every((ms, i) => ms >= (deaths[i] ?? 0)), `each worker's backoff grows: ${deaths.join(', ')}`)
  assert.ok(lines.some((l) => l.msg === 'workers died more than 10 times in a minute: stopping' && l.level === 60), 'logged as fatal')
  for (let i = 0; i < 100 && [...pidsToReap].some(alive); i++) await sleep(50)
  assert.not.ok([...pidsToReap].some(alive), 'no worker left')
})

test('Ctrl-C (SIGINT to the whole process group) drains the workers once and exits 0', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-format', 'json'], true)
  const c = await within(5000, connect(s.url, { reconnect: false }), 'a client')
  const pid = s.child.pid ?? 0
  process.kill(-pid, 'SIGINT')
  const closed = await within(10_000, c.closed, 'the client to be told')
  assert.is((closed as { code?: string } | undefined)?.code, 'server_closing', 'told "going away", not cut off')
  assert.is(await within(15_000, s.exited, 'the primary to exit'), 0, s.stdout())
  assert.not.ok(logLines(s.stdout()).some((l) => l.msg === 'second signal: exiting at once'), 'a worker takes the one Ctrl-C once')
  for (let i = 0; i < 100 && s.workerPids.some(alive); i++) await sleep(50)
  assert.not.ok(s.workerPids.some(alive), 'no worker left')
})

test('a worker that cannot drain within shutdownTimeoutMs makes the primary exit 1', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-level', 'silent', '--close-grace-ms', '20s', '--shutdown-timeout-ms', '500'])
  // A client that stops reading keeps its worker's close waiting past the shutdown timeout.
  const raw = new RawClient(s.url)
  try {
    await within(3000, raw.opened, 'the raw socket to open')
    raw.connect()
    await raw.waitFor((op) => op.op === 'INFO')
    ;(raw.ws as unknown as { _socket: Socket })._socket.pause()
    s.child.kill('SIGTERM')
    assert.is(await within(15_000, s.exited, 'the primary to exit'), 1)
  } finally {
    raw.close()
  }
  for (let i = 0; i < 100 && s.workerPids.some(alive); i++) await sleep(50)
  assert.not.ok(s.workerPids.some(alive), 'no worker left')
})

test('killing the primary with SIGKILL leaves no worker behind', async () => {
  const r = need()
  if (r === null) return
  const s = await serve(['--port', '0', '--cluster', r.url, '--workers', '2', '--log-level', 'silent'])
  s.child.kill('SIGKILL')
  await within(5000, s.exited, 'the primary to die')
  for (let i = 0; i < 200 && s.workerPids.some(alive); i++) await sleep(50)
  assert.not.ok(s.workerPids.some(alive), 'the workers exit when their primary is gone')
})

test('a worker refusing the configuration (its port in use) stops the service with exit code 2, leaving no process', async () => {
  const r = need()
  if (r === null) return
  const taken = createServer()
  await within(5000, new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve)), 'a port to take')
  try {
    const { port } = taken.address() as AddressInfo
    const child = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve', '--port', String(port), '--cluster', r.url, '--workers', '2', '--log-format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    assert.is(await within(30_000, new Promise<number | null>((resolve) => child.once('exit', resolve)), 'exit'), 2, out)
    assert.match(out, /already in use/)
    const workerPids = logLines(out).filter((l) => typeof l.workerPid === 'number').map((l) => l.workerPid as number)
    assert.ok(workerPids.length > 0, 'the primary said which worker refused')
    for (let i = 0; i < 100 && workerPids.some(alive); i++) await sleep(50)
    assert.not.ok(workerPids.some(alive), 'no worker left')
  } finally {
    await within(5000, new Promise((resolve) => taken.close(resolve)), 'the taken port to close')
  }
})

test('a Redis URL with a password joins the workers, and the password is in none of their output', async () => {
  if (!haveRedisServer()) return console.log('  (skipped: no redis-server)')
  const secret = 'pw-0f3c9a77e1'
  const locked = await within(20_000, startRedis({ args: ['--requirepass', secret] }), 'a redis-server with a password')
  try {
    const url = `redis://:${secret}@127.0.0.1:${locked.port}`
    const s = await serve(['--port', '0', '--workers', '2', '--log-level', 'debug', '--log-format', 'json'], false, { SUBWIRE_CLUSTER: url })
    assert.match(s.stderr(), new RegExp(`cluster: {2}subwire on redis://:\\*\\*\\*@127\\.0\\.0\\.1:${locked.port} as node`))
    const { byServer, all } = await clientsOnDistinctBrokers(s.url, 2)
    try {
      const [pub, sub] = [...byServer.values()] as [Client, Client]
      let got = 0
      sub.subscribe('x', { callback: () => { got++ } })
      await within(5000, sub.flush(), 'the subscription')
      for (let i = 0; i < 200 && got === 0; i++) {
        pub.publish('x', i)
        await sleep(50)
      }
      assert.ok(got > 0, 'the workers reach each other through the Redis that needs the password')
    } finally {
      for (const c of all) await c.close()
    }
    s.child.kill('SIGTERM')
    assert.is(await within(15_000, s.exited, 'the primary to exit'), 0)
    assert.not.match(s.stdout() + s.stderr(), secret)
    // A wrong password: the broker cannot join, says so without the password, and exits 1.
    const wrong = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve', '--port', '0', '--log-level', 'debug', '--log-format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SUBWIRE_CLUSTER: `redis://:${secret}-wrong@127.0.0.1:${locked.port}` },
    })
    children.add(wrong)
    let out = ''
    wrong.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    wrong.stderr?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    assert.is(await within(30_000, new Promise<number | null>((resolve) => wrong.once('exit', resolve)), 'exit'), 1, out)
    assert.not.match(out, secret)
  } finally {
    await locked.close()
  }
})

test('--workers without --cluster exits 2 with the bad_option message', async () => {
  const child = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve', '--port', '0', '--workers', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  assert.is(await within(20_000, new Promise<number | null>((resolve) => child.once('exit', resolve)), 'exit'), 2)
  assert.match(err, /--workers needs --cluster/)
})

test.run()
