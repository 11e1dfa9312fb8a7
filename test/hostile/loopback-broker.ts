/**
 * A broker with default options (127.0.0.1, any free port) in a child process, for the load test in
 * limits.test.ts: it sends `{ url }` once listening, `{ connections }` when sent 'stats', and exits on 'close'.
 */
import { createBroker } from '../../server/index.ts'

const broker = await createBroker({ port: 0 })
process.send?.({ url: broker.url })
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ connections: broker.stats().connections })
  if (m === 'close') void broker.close().then(() => process.exit(0))
})
process.on('disconnect', () => process.exit(0))
