/**
 * Dead letters (README "Work queues"): a message that failed `maxDeliver` times is copied to
 * `$DLQ.<topic>` with why and how many attempts, by the single-node runtime and the cluster one alike.
 */
import type { Logger } from 'pino'
import { DLQ_PREFIX, HEADER } from '../../shared/protocol.ts'
import type { StoredMessage } from '../store/topic-store.ts'

/** Routes (and, where a topic covers `$DLQ.<topic>`, stores) a publish of the broker's own. */
export type RouteOwn = (subject: string, headers: Record<string, string>, encoding: number, payload: Uint8Array) => void

/** Moves a message that failed `attempts` times to `$DLQ.<topic>`; a failure is logged, never thrown. */
export function deadLetter(logger: Logger, route: RouteOwn, topic: string, m: StoredMessage, attempts: number, reason: string): void {
  try {
    // A dead letter of a dead letter keeps the first original subject: the copy stays exactly as hard to read
    // as the message it copies (README "Security").
    const original = m.subject.startsWith(`${DLQ_PREFIX}.`) ? (m.headers?.[HEADER.dlqSubject] ?? m.subject) : m.subject
    const headers: Record<string, string> = {
      ...(m.headers ?? {}),
      'Sw-Dlq-Reason': reason,
      'Sw-Dlq-Attempts': String(attempts),
      'Sw-Dlq-Topic': topic,
      'Sw-Dlq-Seq': String(m.seq),
      [HEADER.dlqSubject]: original,
    }
    logger.warn({ topic, seq: m.seq, attempts }, 'message dead-lettered')
    route(`${DLQ_PREFIX}.${topic}`, headers, m.encoding, m.payload)
  } catch (err) {
    // A full dead-letter topic (or a body that no longer reads back) must not stop the work queue; the loss
    // is logged, never silent.
    logger.error({ err, topic, seq: m.seq }, 'dead letter could not be stored')
  }
}
