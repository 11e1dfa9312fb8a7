/**
 * A connection's states and what it needs from the broker that owns it. `C` is the connection class
 * (connection.ts), a parameter here so this file does not import it back.
 */
import type { Logger } from 'pino'
import type { FlushScheduler } from '../outbound/outbound-queue.ts'
import type { Router } from '../routing/router.ts'
import type { BrokerConfig } from '../options.ts'
import type { Authenticator } from '../security/auth.ts'
import type { InboxRegistry } from '../security/inbox-registry.ts'
import type { Topics } from '../topics/topics.ts'
import type { FrameDecoder } from '../../shared/frame-decoder.ts'
import type { DecodeLimits } from '../../shared/op-sink.ts'
import type { SubscriptionHost } from './connection-subscriptions.ts'
import type { GateHost } from './inbound-gate.ts'
import type { LoginHost } from './login.ts'
import type { PublishHost } from './publish-intake.ts'

/**
 * PINGs in a row a client may leave unanswered while its page is hidden (it said so with a PING, PROTOCOL §4.7),
 * instead of two: 3 minutes at the default `heartbeatMs` of 20 s. A frozen background tab (Chrome freezes some,
 * mobile browsers most) runs no code and cannot answer; past this bound it is dropped like any silent client.
 */
export const HIDDEN_MISSED_PINGS = 9

export const CONN_STATE = {
  awaitingConnect: 'awaiting_connect',
  /** CONNECT received; credentials being checked. Inbound frames wait (bounded). */
  authenticating: 'authenticating',
  open: 'open',
  closing: 'closing',
  closed: 'closed',
} as const
export type ConnState = (typeof CONN_STATE)[keyof typeof CONN_STATE]

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost<C> extends PublishHost, SubscriptionHost, LoginHost, GateHost {
  readonly config: BrokerConfig
  readonly router: Router
  readonly scheduler: FlushScheduler
  readonly decoder: FrameDecoder
  readonly decodeLimits: DecodeLimits
  readonly logger: Logger
  readonly auth: Authenticator
  readonly inboxes: InboxRegistry | null
  readonly topics: Topics
  info(clientId: string): object
  /** How long to hold back the answer to a failed authentication from this address (brute-force brake). */
  authFailureDelay(ip: string): number
  onOpen(conn: C): void
  onPublisher(conn: C): void
  onCongested(conn: C): void
  onDrained(conn: C): void
  onSlowConsumer(conn: C): void
  onClosed(conn: C, code: number): void
}
