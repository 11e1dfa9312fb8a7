/**
 * Paced job and its latency probe. The publisher sends `rate` messages per second, each stamped with
 * performance.now(); the probe subscription lives in the same process, so one clock measures both ends.
 * Only messages sent between the job's first two marks are measured (the rest is warm-up and drain).
 */
import type { BenchClient } from '../../systems.ts'
import type { LatencySummary, PublisherJob, PublisherJobResult } from '../../ipc.ts'
import { LatencyRecorder } from '../../stats.ts'
import { makePayload, readStamp, stampPayload } from '../../workloads.ts'
import { sleep } from '../../time.ts'
import type { JobState } from './job-state.ts'

const TICK_MS = 1
/** Past this many bytes queued in the client the schedule skips messages instead of buffering them. */
const MAX_PENDING_BYTES = 1 << 20
const DRAIN_WAIT_MS = 2000

/** Receives the probe's deliveries and records the latency of those sent inside the measured window. */
export class LatencyProbe {
  #recorder = new LatencyRecorder()
  #from = Infinity
  #to = Infinity
  sentInWindow = 0
  probedInWindow = 0

  /** Starts a new measurement; the window opens and closes with the job's marks. */
  reset(): void {
    this.#recorder = new LatencyRecorder()
    this.#from = Infinity
    this.#to = Infinity
    this.sentInWindow = 0
    this.probedInWindow = 0
  }

  setWindow(marks: readonly number[]): void {
    this.#from = marks[0] ?? Infinity
    this.#to = marks[1] ?? Infinity
  }

  inWindow(stampMs: number): boolean {
    return stampMs >= this.#from && stampMs < this.#to
  }

  onData(data: Uint8Array | undefined): void {
    if (data === undefined) return
    const now = performance.now()
    const stamp = readStamp(data)
    if (!this.inWindow(stamp)) return
    this.probedInWindow++
    this.#recorder.record(now - stamp)
  }

  summary(): LatencySummary {
    return this.#recorder.summary()
  }

  /** Subscribes the probe connection to `subject` and waits until the broker has the subscription. */
  async attach(client: BenchClient, subject: string): Promise<void> {
    client.subscribe(subject, { withData: true }, (data) => this.onData(data))
    await client.flush()
  }
}

export async function runPaced(
  client: BenchClient,
  job: Extract<PublisherJob, { kind: 'paced' }>,
  state: JobState,
  probe: LatencyProbe,
): Promise<PublisherJobResult> {
  probe.reset()
  const start = performance.now()
  let scheduled = 0
  while (!state.stopRequested) {
    probe.setWindow(state.marks)
    const due = Math.floor(((performance.now() - start) * job.rate) / 1000)
    const backlogged = (client.pendingBytes() ?? 0) > MAX_PENDING_BYTES
    for (; scheduled < due; scheduled++) {
      if (backlogged) continue // a skipped message is never sent, so "sent" stays honest
      const now = performance.now()
      const payload = makePayload()
      stampPayload(payload, now)
      client.publish(job.subject, payload)
      state.sent++
      if (probe.inWindow(now)) probe.sentInWindow++
    }
    await sleep(TICK_MS)
  }
  probe.setWindow(state.marks)
  await waitForProbe(probe)
  const from = state.marks[0] ?? start
  const to = state.marks[1] ?? performance.now()
  return {
    sent: state.sent,
    completed: 0,
    failed: 0,
    window: { sent: probe.sentInWindow, probed: probe.probedInWindow, elapsedMs: to - from, latency: probe.summary() },
  }
}

/** Lets in-flight messages of the window arrive, for at most DRAIN_WAIT_MS. */
async function waitForProbe(probe: LatencyProbe): Promise<void> {
  const deadline = performance.now() + DRAIN_WAIT_MS
  while (probe.probedInWindow < probe.sentInWindow && performance.now() < deadline) await sleep(10)
}

/** One message every `everyMs` until stopped (the interest of a cluster's far node is not known at once). */
export async function runTrickle(client: BenchClient, job: Extract<PublisherJob, { kind: 'trickle' }>, state: JobState): Promise<void> {
  const payload = makePayload()
  while (!state.stopRequested) {
    client.publish(job.subject, payload)
    state.sent++
    await sleep(job.everyMs)
  }
  await client.flush()
}
