/**
 * Heap per logged message of a resumable session (server/edge/session-log.ts ENTRY_OVERHEAD is set from it):
 * 200,000 entries of a 20-byte tail, twice.
 *
 * node --expose-gc --conditions=source --import tsx test/resume/measure-log-memory.ts
 */
import { SessionLog } from '../../server/edge/session-log.ts'
import { Delivery } from '../../server/outbound/delivery.ts'

const N = 200_000
const frame = Buffer.alloc(64 * 1024)
const prefix = Uint8Array.of(1)
const ds = Array.from({ length: 1000 }, (_, i) => new Delivery().loadTail('a.b', null, 1, frame.subarray(i, i + 20), 10))
for (let run = 0; run < 2; run++) {
  const log = new SessionLog(1 << 30, { total: 0, maxTotal: 1 << 30 })
  globalThis.gc?.(); const before = process.memoryUsage()
  for (let i = 0; i < N; i++) log.append(1, prefix, ds[i % 1000])
  globalThis.gc?.(); const after = process.memoryUsage()
  console.log('per entry: heap', ((after.heapUsed - before.heapUsed) / N).toFixed(0), 'B (tail 20 B); counted', (log.bytes / N).toFixed(0))
}
