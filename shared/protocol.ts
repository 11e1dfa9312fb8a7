/**
 * Wire protocol constants: op codes, payload encodings, close codes and default limits.
 * The prose specification is PROTOCOL.md beside this file; section numbers below refer to it.
 */

/** Protocol version carried in INFO and CONNECT (PROTOCOL §1). */
export const PROTOCOL_VERSION = 1

/** WebSocket subprotocols (PROTOCOL §2). */
export const SUBPROTOCOL = {
  /** Binary frames, each a sequence of msgpack-encoded ops. The default. */
  msgpack: 'subwire.v1',
  /** Text frames, each one or more JSON-encoded ops separated by `\n`. For debugging and non-JS clients. */
  json: 'subwire.v1.json',
} as const
export type Subprotocol = (typeof SUBPROTOCOL)[keyof typeof SUBPROTOCOL]

/** Op codes: the first element of every op array (PROTOCOL §4). */
export const OP = {
  INFO: 0,
  CONNECT: 1,
  PUB: 2,
  SUB: 3,
  UNSUB: 4,
  MSG: 5,
  PING: 6,
  PONG: 7,
  ERR: 8,
  /** Re-authentication on a live connection (PROTOCOL §4.8). */
  AUTH: 9,
  /** Settles a work-queue message: ack, nak, working, term (PROTOCOL §8.4). */
  ACK: 10,
  /** A subscription event from the server: gap, slow_consumer (PROTOCOL §8.3). */
  EVENT: 11,
} as const
export type OpCode = (typeof OP)[keyof typeof OP]

/** How a payload's bytes are to be read (PROTOCOL §5). The broker never transcodes. */
export const ENCODING = {
  /** msgpack; a zero-length payload means "no data" (`undefined`). */
  msgpack: 0,
  /** Raw bytes: the subscriber gets a `Uint8Array`. */
  raw: 1,
  /** UTF-8 JSON text. */
  json: 2,
} as const
export type Encoding = (typeof ENCODING)[keyof typeof ENCODING]

/** Bit flags of a PUB op (PROTOCOL §4.3). */
export const PUB_FLAG = {
  /** The PUB is a request: if nothing is subscribed, the broker answers `no_responders` on the reply subject. */
  request: 1,
  /** Publisher confirm: the broker answers on the reply subject once a topic stored it (PROTOCOL §8.2). */
  ack: 2,
} as const

/** How an ACK op settles a work-queue message (PROTOCOL §8.4). */
export const ACK_KIND = { ack: 0, nak: 1, working: 2, term: 3 } as const
export type AckKind = (typeof ACK_KIND)[keyof typeof ACK_KIND]

/** Headers with a meaning to the broker (PROTOCOL §8). */
export const HEADER = {
  /** De-duplication id of a publish to a topic. */
  msgId: 'Sw-Msg-Id',
  /** Optimistic concurrency: store only if the topic's last sequence is this. */
  expectedLastSeq: 'Sw-Expected-Last-Seq',
  /** On a status reply: the error code. */
  error: '$error',
  /** On a dead letter (`$DLQ.<topic>`): the subject the message was first published on (PROTOCOL §8.4). */
  dlqSubject: 'Sw-Dlq-Subject',
} as const

/** Request subjects of the topic management API, answered by the broker (PROTOCOL §8.1). */
export const TOPIC_API = {
  add: '$SW.TOPIC.ADD',
  update: '$SW.TOPIC.UPDATE',
  info: '$SW.TOPIC.INFO',
  list: '$SW.TOPIC.LIST',
  delete: '$SW.TOPIC.DELETE',
  purge: '$SW.TOPIC.PURGE',
} as const

/** Dead-lettered work-queue messages go to `$DLQ.<topic>` (PROTOCOL §8.4). */
export const DLQ_PREFIX = '$DLQ'

/** Header the broker sets on a status message it sends to a reply subject (PROTOCOL §6). */
export const STATUS_HEADER = '$status'

/**
 * WebSocket close codes (PROTOCOL §7). 1000-1011 are standard; 4000-4999 are ours.
 * The client's reconnect policy (client/reconnect.ts) reads this table.
 */
export const CLOSE_CODE = {
  normal: 1000,
  goingAway: 1001,
  messageTooBig: 1009,
  /** Malformed frame, unknown op, op before CONNECT, a second CONNECT. */
  protocol: 4000,
  /** CONNECT refused by authentication. */
  authFailed: 4001,
  /** No CONNECT within the connect timeout. */
  connectTimeout: 4002,
  /** Missed two PINGs in a row with no other traffic. */
  stale: 4003,
  /** The connection's outbound queue passed its hard cap. */
  slowConsumer: 4004,
  /** The broker is at a connection limit. */
  limit: 4005,
  /** Credentials expired on a live connection. */
  authExpired: 4006,
} as const
export type CloseCode = (typeof CLOSE_CODE)[keyof typeof CLOSE_CODE]

/** Default limits; every one is overridable in the broker options and announced in INFO. */
export const DEFAULT_LIMITS = {
  /** Largest payload (user data plus headers) of one message. */
  maxPayload: 1024 * 1024,
  /** Largest WebSocket frame either side may send; batches are split to stay under it. */
  maxFrame: 4 * 1024 * 1024,
  /** Longest subject or pattern, in UTF-8 bytes. */
  maxSubjectLength: 256,
  /** Most headers on one message. */
  maxHeaders: 64,
  /** Server → client PING interval; a peer silent for two intervals is dropped. */
  heartbeatMs: 20_000,
  /** Time a new socket has to send CONNECT. */
  connectTimeoutMs: 5_000,
  /** Hard cap on one connection's unsent outbound bytes; past it the connection is a slow consumer. */
  maxPendingBytes: 8 * 1024 * 1024,
  /** Most ops one frame may carry. */
  maxOpsPerFrame: 100_000,
  /** Most subscriptions one connection may hold. */
  maxSubscriptionsPerConnection: 100_000,
} as const

/** The server's greeting, the body of INFO (PROTOCOL §4.1). */
export interface Info {
  serverId: string
  serverName: string
  version: string
  protocol: number
  maxPayload: number
  maxFrame: number
  maxSubjectLength: number
  heartbeatMs: number
  /** The connection id the broker gave this socket; it appears in the broker's logs. */
  clientId: string
  /** True when the broker requires credentials in CONNECT. */
  authRequired?: boolean
  /** Sent in an INFO after authentication: when the credentials expire (epoch ms), or null. */
  authExpiresAt?: number | null
  /** The cluster node this connection is on, when the broker is one node of a cluster (PROTOCOL §4.11). */
  nodeId?: string
  /**
   * Whose sequences topic messages carry: equal on every node of a cluster that shares the same Redis data (a
   * client resumes a replay subscription from its last seq only on a server with the same log id). Absent:
   * the `serverId` (a broker alone, whose memory topics start again at each start).
   */
  logId?: string
}

/** The client's first op, the body of CONNECT (PROTOCOL §4.2). */
export interface ConnectInfo {
  protocol: number
  name?: string
  lang?: string
  version?: string
  token?: string
  user?: string
  password?: string
  /** Deliver this connection's own publishes to its own subscriptions (default true). */
  echo?: boolean
  /** Ask for a resumable session: `true` for a new one, or take over one after a drop (PROTOCOL §4.10). */
  resume?: true | { token: string; received: number }
}
