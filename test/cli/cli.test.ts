import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from '../../client/index.ts'
import { within } from '../helpers.ts'

function startCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'server/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
}

function readUntil(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = ''
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      const m = text.match(pattern)
      if (m !== null) resolve(m)
    })
    stream.on('end', () => reject(new Error(`stream ended without ${pattern}: ${text}`)))
  })
}

test('serve starts a broker, prints its URL, and exits cleanly on SIGTERM', async () => {
  const child = startCli(['serve', '--port', '0', '--log-level', 'silent'])
  try {
    const [, url] = await within(15_000, readUntil(child.stderr as NodeJS.ReadableStream, /listening on (ws:\/\/\S+)/), 'the URL')
    const c = await within(3000, connect(url, { reconnect: false }), 'connect')
    const s = c.subscribe('cli')
    c.publish('cli', 'ok')
    const it = s[Symbol.asyncIterator]()
    assert.is((await within(3000, it.next(), 'a message')).value?.data, 'ok')
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    assert.is(await within(5000, exited, 'the process to exit'), 0)
    const result = await within(3000, c.closed, 'the client to see the close')
    assert.ok(result instanceof Error, 'the client was told the server went away')
  } finally {
    child.kill('SIGKILL')
  }
})

test('serve refuses a bad --port with exit code 2 and a message naming the flag', async () => {
  const child = startCli(['serve', '--port', 'abc'])
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const code = await within(15_000, new Promise<number | null>((resolve) => child.once('exit', resolve)), 'exit')
  assert.is(code, 2)
  assert.match(err, /--port/)
})

test.run()
