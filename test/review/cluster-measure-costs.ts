/**
 * Cluster review measurements (not a test): what one client on another node costs a node.
 * `node --expose-gc --conditions=source --import tsx test/review/cluster-measure-costs.ts`
 * 1. ReplyRoutes: heap held for 200,000 requests with distinct ~250-byte reply subjects (one client's flood).
 * 2. RemoteInterest: targets() for 4,096 distinct subjects over 10,000 remote patterns, with and without one
 *    interest change every 100 lookups (a churning client's SUB/UNSUB once per tick).
 */
import { ReplyRoutes } from '../../server/cluster/redis/reply-routes.ts'
import { RemoteInterest, interestKey } from '../../server/cluster/redis/remote-interest.ts'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

gc()
const before = process.memoryUsage().heapUsed
const routes = new ReplyRoutes()
for (let i = 0; i < 200_000; i++) routes.remember(`_INBOX.abcdefghijklmnopqrstuv.${String(i).padStart(6, '0')}${'x'.repeat(220)}`, 'nodeB')
gc()
console.log(`reply routes: ${((process.memoryUsage().heapUsed - before) / 2 ** 20).toFixed(1)} MiB held for 200,000 requests (looked up: ${routes.lookup(`_INBOX.abcdefghijklmnopqrstuv.199999${'x'.repeat(220)}`) ?? 'none'})`)

const remote = new RemoteInterest()
for (let i = 0; i < 10_000; i++) remote.set('nodeB', interestKey(i % 3 === 0 ? `orders.*.${i}` : i % 3 === 1 ? `orders.${i % 100}.>` : `orders.eu.${i}`, i % 7 === 0 ? `q${i % 50}` : null), 1)
const subjects = Array.from({ length: 4096 }, (_, i) => `orders.${i % 100}.${i}`)
function run(churn: boolean): number {
  const start = process.hrtime.bigint()
  let n = 0
  for (let i = 0; i < 400_000; i++) {
    if (churn && i % 100 === 0) remote.set('nodeC', interestKey(`churn.${i}`, null), (i / 100) % 2)
    n += remote.targets(subjects[i % subjects.length]).plain.length
  }
  if (n < 0) console.log(n)
  return Number(process.hrtime.bigint() - start) / 1e6
}
run(false)
console.log(`targets(): 400,000 lookups ${run(false).toFixed(0)} ms without churn, ${run(true).toFixed(0)} ms with one interest change every 100 lookups`)
