/**
 * Flood job: publish as fast as the pipeline drains. Bursts of BURST messages per event-loop turn, then
 * three brakes so nothing buffers without bound:
 *  - socket: wait while the client holds more than MAX_PENDING_BYTES not yet taken by the socket;
 *  - round trip: a flush every `flushEveryBursts` bursts when the client cannot tell its pending bytes
 *    (or always, for scenario G where the publish rate accepted by the broker is the figure);
 *  - end to end: at most `windowMsgs` messages sent and not yet delivered to every subscriber.
 */
import type { BenchClient } from '../../systems.ts'
import type { PublisherJob } from '../../ipc.ts'
import { makePayload } from '../../workloads.ts'
import { sleep, yieldToIo } from '../../time.ts'
import type { Credit, JobState } from './job-state.ts'

const BURST = 256
const MAX_PENDING_BYTES = 1 << 20
const CREDIT_RECHECK_MS = 100

export async function runFlood(
  client: BenchClient,
  job: Extract<PublisherJob, { kind: 'flood' }>,
  state: JobState,
  credit: Credit,
): Promise<void> {
  const payload = makePayload()
  const subjects = job.subjects
  const watchPending = job.flush === 'fallback' && client.pendingBytes() !== undefined
  let next = 0
  let bursts = 0
  while (!state.stopRequested) {
    if (watchPending && (client.pendingBytes() ?? 0) > MAX_PENDING_BYTES) {
      await sleep(1)
      continue
    }
    const allowance = job.windowMsgs === undefined ? BURST : Math.min(BURST, job.windowMsgs - (state.sent - credit.delivered))
    if (allowance <= 0) {
      await credit.changed(CREDIT_RECHECK_MS)
      continue
    }
    for (let n = 0; n < allowance; n++) {
      client.publish(subjects[next]!, payload)
      next = next + 1 === subjects.length ? 0 : next + 1
    }
    state.sent += allowance
    bursts++
    if (!watchPending && bursts % job.flushEveryBursts === 0) await client.flush()
    else await yieldToIo()
  }
  await client.flush()
}
