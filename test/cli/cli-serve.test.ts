/**
 * `subwire serve` as a process: configuration from a file and variables, the banner, and graceful shutdown on
 * signals (not ready at once, clients told "going away", exit within shutdownTimeoutMs, a second signal at once).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { connect } from '../../client/index.ts'
import { RawClient, within } from '../helpers.ts'
import type { Socket } from 'node:net'

const children = new Set<ChildProcess>()
test.after.each(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})

interface Served {
  child: ChildProcess
  url: string
  http: string
  stderr: () => string
  exited: Promise<number | null>
}

/** Starts `subwire serve` (in `cwd`, by default this one) and waits for its banner. */
async function serve(args: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<Served> {
  // Absolute paths, so the child runs from any working directory.
  const child = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), resolve('server/cli/main.ts'), 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    cwd,
  })
  children.add(child)
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  child.stdout?.resume()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const banner = await within(20_000, new Promise<RegExpMatchArray>((resolve, reject) => {
    const check = (): void => {
      const m = err.match(/listening on (ws:\/\/\S+)\n {2}monitor: {2}(http:\/\/\S+)\//)
      if (m !== null) resolve(m)
    }
    child.stderr?.on('data', check)
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${err}`)))
  }), 'the serve banner')
  return { child, url: banner[1] ?? '', http: banner[2] ?? '', stderr: () => err, exited }
}

/** A connected client that stops reading, so the broker's close waits for it (up to closeGraceMs). */
async function stuckClient(url: string): Promise<RawClient> {
  const raw = new RawClient(url)
  await within(3000, raw.opened, 'the raw socket to open')
  raw.connect()
  await raw.waitFor((op) => op.op === 'INFO')
  ;(raw.ws as unknown as { _socket: Socket })._socket.pause()
  return raw
}

test('serve reads a config file and SUBWIRE_* variables, and prints where the monitor is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-serve-'))
  const file = join(dir, 'subwire.json')
  writeFileSync(file, JSON.stringify({ port: 0, serverName: 'from-file', maxPayload: '2MiB', maxFrame: '4MiB' }))
  const s = await serve(['--config', file, '--log-level', 'silent'], { SUBWIRE_SERVER_NAME: 'from-env' })
  const c = await within(3000, connect(s.url, { reconnect: false }), 'connect')
  assert.is(c.info?.serverName, 'from-env')
  assert.is(c.info?.maxPayload, 2 * 1024 * 1024)
  await c.close()
  const health = await within(5000, fetch(`${s.http}/healthz`), 'healthz')
  assert.is(health.status, 200)
  s.child.kill('SIGTERM')
  assert.is(await within(10_000, s.exited, 'exit'), 0)
})

test('serve creates the topics of its config file, says so in its banner, and stores what is published there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-serve-'))
  const file = join(dir, 'subwire.json')
  writeFileSync(file, JSON.stringify({ port: 0, topics: [{ name: 'orders', subjects: ['orders.>'], maxMsgs: 1000, maxAgeMs: '1h' }] }))
  const s = await serve(['--config', file, '--log-level', 'silent'])
  assert.match(s.stderr(), / {2}topics: {3}orders \(orders\.>\)\n/)
  const c = await within(3000, connect(s.url, { reconnect: false }), 'connect')
  assert.equal(await within(3000, c.publishAck('orders.eu.1', 'x'), 'publishAck'), { topic: 'orders', seq: 1, duplicate: false })
  const info = await within(3000, c.topics.info('orders'), 'info')
  assert.equal([info.messages, info.config.maxMsgs, info.config.maxAgeMs], [1, 1000, 3_600_000])
  await c.close()
  s.child.kill('SIGTERM')
  assert.is(await within(10_000, s.exited, 'exit'), 0)
})

test('serve names ./data under its working directory as the data directory, and a broker of memory topics writes nothing there', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'subwire-cwd-'))
  try {
    writeFileSync(join(cwd, 'subwire.json'), JSON.stringify({ port: 0, topics: [{ name: 'ticks', subjects: ['ticks.>'] }] }))
    const s = await serve(['--config', 'subwire.json', '--log-level', 'silent'], {}, cwd)
    assert.ok(s.stderr().includes(`\n  data:     ${join(cwd, 'data')}  (file topics; none yet, nothing written)\n`), s.stderr())
    const c = await within(3000, connect(s.url, { reconnect: false }), 'connect')
    await within(3000, c.publishAck('ticks.1', 'x'), 'publishAck')
    await within(3000, c.topics.add({ name: 'more', subjects: ['more.>'] }), 'add a memory topic')
    await c.close()
    s.child.kill('SIGTERM')
    assert.is(await within(10_000, s.exited, 'exit'), 0)
    assert.equal(readdirSync(cwd), ['subwire.json'], 'nothing written')
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
})

test('serve makes the data directory with the first file topic, created at run time', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'subwire-cwd-'))
  try {
    const s = await serve(['--port', '0', '--log-level', 'silent', '--data-dir', 'state'], {}, cwd)
    assert.not.ok(existsSync(join(cwd, 'state')), 'not before a file topic')
    const c = await within(3000, connect(s.url, { reconnect: false }), 'connect')
    await within(5000, c.topics.add({ name: 'jobs', subjects: ['jobs.>'], storage: 'file' } as Parameters<typeof c.topics.add>[0]), 'add a file topic')
    await within(5000, c.publishAck('jobs.1', 'x'), 'publishAck')
    assert.ok(existsSync(join(cwd, 'state')), 'made with the first file topic')
    await c.close()
    s.child.kill('SIGTERM')
    assert.is(await within(10_000, s.exited, 'exit'), 0)
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
})

test('serve exits with code 2 and names the field when the config is bad', async () => {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'server/cli/main.ts', 'serve'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SUBWIRE_HEARTBEAT_MS: 'often' },
  })
  children.add(child)
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const code = await within(20_000, new Promise<number | null>((resolve) => child.once('exit', resolve)), 'exit')
  assert.is(code, 2)
  assert.match(err, /SUBWIRE_HEARTBEAT_MS must be a duration/)
})

test('on SIGTERM serve reports not ready at once, tells clients going away, and exits 0', async () => {
  const s = await serve(['--port', '0', '--log-level', 'silent', '--close-grace-ms', '1500'])
  const c = await within(3000, connect(s.url, { reconnect: false }), 'connect')
  const stuck = await stuckClient(s.url)
  assert.is((await within(5000, fetch(`${s.http}/readyz`), 'readyz')).status, 200)
  s.child.kill('SIGTERM')
  const closed = await within(5000, c.closed, 'the client to be told')
  assert.ok(closed instanceof Error && (closed as { code?: string }).code === 'server_closing', `closed with ${String(closed)}`)
  // The stuck client keeps the broker draining for closeGraceMs: meanwhile it is alive but not ready.
  const ready = await within(5000, fetch(`${s.http}/readyz`), 'readyz while draining')
  assert.is(ready.status, 503)
  assert.is((await within(5000, fetch(`${s.http}/healthz`), 'healthz while draining')).status, 200)
  assert.is(await within(10_000, s.exited, 'exit'), 0)
  assert.match(s.stderr(), /subwire broker stopped/)
  stuck.close()
})

test('a second signal exits at once', async () => {
  const s = await serve(['--port', '0', '--log-level', 'silent', '--close-grace-ms', '20s', '--shutdown-timeout-ms', '30s'])
  const stuck = await stuckClient(s.url)
  s.child.kill('SIGINT')
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.is(s.child.exitCode, null, 'still draining after the first signal')
  const started = Date.now()
  s.child.kill('SIGINT')
  assert.is(await within(5000, s.exited, 'exit after the second signal'), 1)
  assert.ok(Date.now() - started < 3000, 'at once')
  stuck.close()
})

test('serve exits within shutdownTimeoutMs when clients do not leave', async () => {
  const s = await serve(['--port', '0', '--log-level', 'silent', '--close-grace-ms', '20s', '--shutdown-timeout-ms', '500'])
  const stuck = await stuckClient(s.url)
  const started = Date.now()
  s.child.kill('SIGTERM')
  assert.is(await within(5000, s.exited, 'exit at the shutdown timeout'), 1)
  const took = Date.now() - started
  assert.ok(took >= 400 && took < 3000, `exited after ${took} ms`)
  stuck.close()
})

test.run()
