/**
 * Requests job: `concurrency` loops, each one request at a time, until stopped.
 */
import type { BenchClient } from '../../systems.ts'
import type { PublisherJob } from '../../ipc.ts'
import { makePayload } from '../../workloads.ts'
import type { JobState } from './job-state.ts'

export async function runRequests(
  client: BenchClient,
  job: Extract<PublisherJob, { kind: 'requests' }>,
  state: JobState,
): Promise<void> {
  const payload = makePayload()
  async function loop(): Promise<void> {
    while (!state.stopRequested) {
      try {
        await client.request(job.subject, payload, job.timeoutMs)
        state.completed++
      } catch {
        state.failed++
      }
    }
  }
  const loops: Promise<void>[] = []
  for (let i = 0; i < job.concurrency; i++) loops.push(loop())
  await Promise.all(loops)
}
