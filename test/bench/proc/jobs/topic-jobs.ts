/**
 * Topic jobs of scenario H, for systems with retained topics:
 *  - publish-ack: `inFlight` loops, each one confirmed publish at a time, so exactly `inFlight` confirms are
 *    outstanding; bounded by the stop flag, `maxMsgs` and `deadlineMs`; with `latency` (scenario J) it
 *    records send → confirm of each confirm sent between the job's first two marks (HdrHistogram, as D);
 *  - fill: stores a fixed number of messages as fast as the broker takes them (plain publishes under the
 *    socket brake, a flush round trip every few bursts), confirms the last one, and reads back what the
 *    topic holds, so a replay knows exactly how many messages to expect.
 */
import type { BenchClient, TopicBenchClient } from '../../systems.ts'
import type { PublisherJob, PublisherJobResult } from '../../ipc.ts'
import { makePayload } from '../../workloads.ts'
import { sleep, within, yieldToIo } from '../../time.ts'
import { LatencyRecorder } from '../../stats.ts'
import type { JobState } from './job-state.ts'

const BURST = 256
const MAX_PENDING_BYTES = 1 << 20
const FLUSH_EVERY_BURSTS = 8
const CONFIRM_TIMEOUT_MS = 10_000

function topicsOf(client: BenchClient): TopicBenchClient {
  if (client.topics === undefined) throw new Error('this system has no topics')
  return client.topics
}

function errorText(err: unknown): string {
  if (err instanceof Error) return 'code' in err && typeof err.code === 'string' ? `${err.code}: ${err.message}` : err.message
  return String(err)
}

export async function runPublishAck(
  client: BenchClient,
  job: Extract<PublisherJob, { kind: 'publish-ack' }>,
  state: JobState,
): Promise<PublisherJobResult> {
  const topics = topicsOf(client)
  const payload = makePayload()
  const deadline = performance.now() + job.deadlineMs
  let lastSeq = -1
  let duplicates = 0
  let outOfOrder = 0
  let firstError: string | undefined
  const recorder = job.latency === true ? new LatencyRecorder() : undefined
  /** Whether a confirm sent at `sentAt` falls in the measured window (opened and closed by marks). */
  const inWindow = (sentAt: number): boolean => sentAt >= (state.marks[0] ?? Infinity) && sentAt < (state.marks[1] ?? Infinity)
  async function loop(): Promise<void> {
    while (!state.stopRequested && state.sent < job.maxMsgs && performance.now() < deadline) {
      state.sent++
      try {
        const sentAt = recorder === undefined ? 0 : performance.now()
        const ack = await topics.publishAck(job.subject, payload, job.timeoutMs)
        if (recorder !== undefined && inWindow(sentAt)) recorder.record(performance.now() - sentAt)
        state.completed++
        if (ack.duplicate) duplicates++
        // Confirms resolve in the order the broker stored them, one sequence apart (nobody else publishes here).
        if (lastSeq >= 0 && ack.seq !== lastSeq + 1) outOfOrder++
        lastSeq = ack.seq
      } catch (err) {
        state.failed++
        firstError ??= errorText(err)
      }
    }
  }
  const loops: Promise<void>[] = []
  for (let i = 0; i < job.inFlight; i++) loops.push(loop())
  await Promise.all(loops)
  return { sent: state.sent, completed: state.completed, failed: state.failed, duplicates, outOfOrder, firstError, confirmLatency: recorder?.summary() }
}

export async function runFill(client: BenchClient, job: Extract<PublisherJob, { kind: 'fill' }>, state: JobState): Promise<PublisherJobResult> {
  const topics = topicsOf(client)
  const payload = makePayload()
  const started = performance.now()
  const deadline = started + job.deadlineMs
  const remainingMs = (): number => Math.max(1, deadline - performance.now())
  const plain = job.count - 1
  let bursts = 0
  let sent = 0
  while (sent < plain) {
    if (performance.now() > deadline) throw new Error(`fill: only ${sent} of ${job.count} messages published within ${job.deadlineMs} ms`)
    if ((client.pendingBytes() ?? 0) > MAX_PENDING_BYTES) {
      await sleep(1)
      continue
    }
    const n = Math.min(BURST, plain - sent)
    for (let i = 0; i < n; i++) client.publish(job.subject, payload)
    sent += n
    state.sent += n
    if (++bursts % FLUSH_EVERY_BURSTS === 0) await within(remainingMs(), client.flush(), 'fill flush')
    else await yieldToIo()
  }
  const ack = await within(remainingMs(), topics.publishAck(job.subject, payload, Math.min(CONFIRM_TIMEOUT_MS, remainingMs())), 'fill confirm')
  state.sent++
  state.completed = ack.seq
  const info = await within(remainingMs(), topics.info(job.topic), 'fill info')
  return {
    sent: state.sent,
    completed: state.completed,
    failed: 0,
    stored: { messages: info.messages, bytes: info.bytes, elapsedMs: performance.now() - started },
  }
}
