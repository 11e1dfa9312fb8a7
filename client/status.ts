/** Connection status events, fanned out to every `status()` iterator. */
import type { SubwireError } from '../shared/errors.ts'
import { Channel } from './channel.ts'

/** One status event. `type` says which; the other fields depend on it. */
export type Status =
  | { type: 'disconnect'; server: string; code: number; error: SubwireError | null }
  | { type: 'reconnecting'; server: string; attempt: number; delayMs: number }
  | { type: 'reconnect'; server: string }
  | { type: 'stale'; server: string }
  | { type: 'error'; error: SubwireError; subject?: string }
  /** A replay could not deliver messages the topic no longer holds: `from`..`to` are lost. */
  | { type: 'gap'; reason?: 'topic'; subject: string; topic: string; from: number; to: number }
  /**
   * `connect(url, { resume: true })` reconnected without getting everything back (client/resume.ts). `resumed`:
   * the broker still had the session and replayed `missed` messages, but not all (its byte bound was passed);
   * false: it no longer knew the session (window passed, broker restarted, token refused), so every
   * subscription was made again. `lost` names each subscription that lost messages and how many; `count` is a
   * lower bound when not resumed (the broker stopped counting at the window's end), null when unknown.
   */
  | { type: 'gap'; reason: 'resume'; server: string; resumed: boolean; missed: number; lost: ResumeLoss[]; subject?: undefined; topic?: undefined; from?: undefined; to?: undefined }
  /** `connect(url, { resume: true })` reconnected and got every message it missed (`missed` of them) in order. */
  | { type: 'resumed'; server: string; missed: number }
  /**
   * Messages of subscription `sid` were dropped because it could not keep up: by the broker (`source:
   * 'broker'`, a `drop_new`/`drop_old`/`keep_latest` policy) or by this client (`source: 'client'`, a `for await`
   * reader past `maxPending`/`maxPendingBytes`). `dropped` since the last report, `total` in all.
   */
  | { type: 'slow_consumer'; sid: number; subject: string; dropped: number; total: number; source: 'broker' | 'client' }
  /**
   * `validate` (ConnectOptions) refused the data of a message on `subject` (or of a reply to a request on it):
   * it was not delivered. `error.code` is `bad_payload`, `error.cause` what the validator threw.
   */
  | { type: 'invalid'; subject: string; error: SubwireError }
  /** `connect(url, { shared: true })` could not share (no SharedWorker here): this tab has a connection of its own. */
  | { type: 'shared_fallback'; reason: string }
  /**
   * The broker's node lost its link to the rest of its cluster (`link: 'down'`): until `up`, messages published
   * on other nodes do not reach this connection's subscriptions, and its publishes reach only subscribers on
   * its own node. `up` says how long it lasted (`downMs`) and how many messages the node dropped for other
   * nodes meanwhile (`dropped`). Core pub/sub is not replayed across the gap; topics are (replay from a sequence).
   */
  | { type: 'cluster'; link: 'up' | 'down'; downMs: number; dropped: number; nodeId: string }
  | { type: 'close'; error: Error | null }

/** What one subscription lost across a reconnect that could not resume fully (`gap` with `reason: 'resume'`). */
export interface ResumeLoss {
  sid: number
  subject: string
  count: number | null
}

/** Most events one slow status iterator holds before dropping its oldest. */
const STATUS_BUFFER = 1000

export class StatusHub {
  readonly #listeners = new Set<Channel<Status>>()

  /** A new iterator that sees every event from now on. */
  listen(): AsyncIterableIterator<Status> {
    const channel: Channel<Status> = new Channel<Status>(STATUS_BUFFER, () => this.#listeners.delete(channel))
    this.#listeners.add(channel)
    return channel
  }

  emit(status: Status): void {
    for (const l of this.#listeners) l.push(status)
  }

  /** Ends every iterator (the client closed). */
  end(): void {
    for (const l of this.#listeners) l.end()
    this.#listeners.clear()
  }
}
