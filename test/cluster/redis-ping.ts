/** One PING over a plain socket (AUTH first when the server has `--requirepass`): true on `+PONG`. */
import { readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

const PING_MS = 1000

export function redisPing(port: number, serverArgs: readonly string[] = [], caFile?: string): Promise<boolean> {
  const i = serverArgs.indexOf('--requirepass')
  const auth = i >= 0 ? `AUTH ${serverArgs[i + 1]}\r\n` : ''
  return new Promise((resolve) => {
    const socket = caFile === undefined ? createConnection({ host: '127.0.0.1', port }) : tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(caFile) })
    let reply = ''
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), PING_MS)
    socket.once('error', () => done(false))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      if (reply.includes('PONG')) done(true)
      else if (reply.includes('-')) done(false)
    })
    socket.once(caFile === undefined ? 'connect' : 'secureConnect', () => socket.write(`${auth}PING\r\n`))
  })
}
