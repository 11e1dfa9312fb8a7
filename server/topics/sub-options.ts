/**
 * SUB options (PROTOCOL §8.3–8.5): replay from a topic (`deliver`), acked work queues, and the slow-consumer
 * policy. Checked once, at subscribe time.
 */
import { SubwireError } from '../../shared/errors.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import type { GroupConfig } from '../store/topic-store.ts'
import { MAX_TIMER_MS } from '../store/topic-config.ts'
import type { DeliverPolicy } from './topics.ts'
import { SLOW_POLICY, type SlowPolicy } from '../outbound/slow-consumer.ts'


/** SUB options, checked. */
export interface SubOptions {
  deliver: DeliverPolicy | null
  ack: boolean
  group: GroupConfig
  policy: SlowPolicy | null
}

const PLAIN: SubOptions = Object.freeze({ deliver: null, ack: false, group: Object.freeze({}), policy: null })

function bad(message: string): SubwireError {
  return new SubwireError('bad_option', message)
}

function positive(v: WireValue | undefined, name: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad(`${name} must be a positive integer`)
  return v
}

/** A duration that arms a timer (`ackWaitMs`, a `backoffMs` entry): an integer from `min` to MAX_TIMER_MS. */
function isTimerMs(v: WireValue, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= MAX_TIMER_MS
}

function timerMs(v: WireValue | undefined, name: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (!isTimerMs(v, 1)) throw bad(`${name} must be an integer from 1 to ${MAX_TIMER_MS}`)
  return v
}

function deliverPolicy(v: WireValue | undefined): DeliverPolicy | null {
  if (v === undefined || v === null) return null
  if (v === 'all' || v === 'last' || v === 'last_per_subject' || v === 'new') return v
  if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
    const o = v as Record<string, WireValue>
    if (typeof o.startSeq === 'number' && Number.isSafeInteger(o.startSeq) && o.startSeq >= 0) return { startSeq: o.startSeq }
    if (typeof o.startTime === 'number' && Number.isFinite(o.startTime)) return { startTime: o.startTime }
  }
  throw bad("deliver must be 'all', 'last', 'last_per_subject', 'new', { startSeq } or { startTime }")
}

/** Checks the options map of a SUB. @throws SubwireError `bad_option` */
export function parseSubOptions(o: Record<string, WireValue> | null, queue: string | null): SubOptions {
  if (o === null) return PLAIN
  const policy = o.policy ?? null
  if (policy !== null && !(Object.values(SLOW_POLICY) as unknown[]).includes(policy)) {
    throw bad(`policy must be one of ${Object.values(SLOW_POLICY).join(', ')}`)
  }
  const ack = o.ack === true
  if (ack && queue === null) throw bad('an acked subscription needs a queue group name')
  let backoffMs: number[] | undefined
  if (o.backoffMs !== undefined && o.backoffMs !== null) {
    if (!Array.isArray(o.backoffMs) || !o.backoffMs.every((x) => isTimerMs(x, 0))) throw bad(`backoffMs must be an array of integers from 0 to ${MAX_TIMER_MS}`)
    backoffMs = o.backoffMs as number[]
  }
  const group: GroupConfig = {
    ...(timerMs(o.ackWaitMs, 'ackWaitMs') === undefined ? {} : { ackWaitMs: o.ackWaitMs as number }),
    ...(positive(o.maxDeliver, 'maxDeliver') === undefined ? {} : { maxDeliver: o.maxDeliver as number }),
    ...(positive(o.maxInFlight, 'maxInFlight') === undefined ? {} : { maxInFlight: o.maxInFlight as number }),
    ...(backoffMs === undefined ? {} : { backoffMs }),
  }
  return { deliver: deliverPolicy(o.deliver), ack, group, policy: policy as SlowPolicy | null }
}
