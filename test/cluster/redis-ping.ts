/** One PING over a plain socket (AUTH first when the server has `--requirepass`): true on `+PONG`. */
import { createConnection } from 'node:net'

const PING_MS = 1000

export function redisPing(port: number, serverArgs: readonly string[] = []): Promise<boolean> {
  const i = serverArgs.indexOf('--requirepass')
  const auth = i >= 0 ? `AUTH ${serverArgs[i + 1]}\r\n` : ''
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
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
    socket.once('connect', () => socket.write(`${auth}PING\r\n`))
  })
}
