/** Broker options, their defaults, and the one place they are checked and frozen into a config. */
import { existsSync, statSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import { resolve as resolvePath } from 'node:path'
import type { Logger } from 'pino'
import { DEFAULT_LIMITS } from '../shared/protocol.ts'
import { SubwireError } from '../shared/errors.ts'
import type { AuthOptions } from './security/auth.ts'
import type { FileStoreTuning } from './store/file/file-store.ts'
import type { TopicConfig } from './store/topic-store.ts'
import { MAX_TIMER_MS } from './store/topic-config.ts'
import { resolveClusterConfig, type ClusterConfig, type ClusterOptions } from './cluster/cluster-options.ts'

export type { ClusterOptions, ClusterConfig }

/** Port `npm start` listens on when none is given. */
export const DEFAULT_PORT = 4480

/** Options of `createBroker()`. Every limit is also announced to clients in INFO where they need it. */
export interface BrokerOptions {
  /** TCP port; 0 picks a free one. Ignored when `server` is given. @default 4480 */
  port?: number
  /** Interface to listen on. Ignored when `server` is given. @default '127.0.0.1' */
  host?: string
  /** URL path WebSocket upgrades are accepted on. @default '/' */
  path?: string
  /** An existing HTTP server (an Express or Fastify app's) to attach to instead of creating one. */
  server?: HttpServer
  /** A pino logger; the broker logs through `child({ component: 'broker' })`. @default silent */
  logger?: Logger
  /** Name announced in INFO. @default 'subwire' */
  serverName?: string
  /** Largest message payload (data plus headers), in bytes. @default 1 MiB */
  maxPayload?: number
  /** Largest WebSocket frame in either direction, in bytes (also `ws`'s `maxPayload`). @default 4 MiB */
  maxFrame?: number
  /** Longest subject, in UTF-8 bytes. @default 256 */
  maxSubjectLength?: number
  /** Most headers on one message. @default 64 */
  maxHeaders?: number
  /** Most ops in one inbound frame. @default 100000 */
  maxOpsPerFrame?: number
  /** Most subscriptions one connection may hold. @default 100000 */
  maxSubscriptionsPerConnection?: number
  /**
   * Most subscriptions on the whole broker (plain, replay and acked ones); a SUB past it gets ERR
   * `max_subscriptions`. About 900 bytes each: the default bounds them near 1 GiB. @default 1000000
   */
  maxSubscriptions?: number
  /**
   * Most subscriptions all connections from one IP address hold together (ERR `max_subscriptions`). Not applied to
   * loopback peers unless set (see `maxConnectionsPerIp`). @default 200000
   */
  maxSubscriptionsPerIp?: number
  /** PING interval; a client silent for two intervals is closed (`stale_connection`). @default 20000 */
  heartbeatMs?: number
  /** Time a new socket has to send CONNECT (`connect_timeout`). @default 5000 */
  connectTimeoutMs?: number
  /** Hard cap on one connection's unsent bytes; past it the client is closed as `slow_consumer`. @default 8 MiB */
  maxPendingBytes?: number
  /** A connection with more unsent bytes than this pauses publishers' reads until it drains. @default 64 KiB */
  highWaterBytes?: number
  /**
   * How long a congested connection may hold publishers back without draining; after that it is treated as
   * stalled and no longer slows anyone (it fills up to `maxPendingBytes` alone). @default 250
   */
  stallMs?: number
  /** Time a closing connection gets to finish the close handshake before it is cut. @default 2000 */
  closeGraceMs?: number
  /** Subjects whose match results are cached; 0 turns the cache off. @default 4096 */
  subjectCacheSize?: number
  /** Who may connect, and with which permissions. @default none: anyone, unrestricted (for localhost development) */
  auth?: AuthOptions
  /** Serve `wss://` with this certificate (PEM strings or Buffers). Ignored when `server` is given. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | Array<string | Buffer> }
  /** Browser origins allowed to connect (the `Origin` header; requests without one, from non-browsers, pass). @default any */
  allowedOrigins?: string[]
  /** Time a new socket has to send CONNECT and be authenticated. @default connectTimeoutMs */
  authTimeoutMs?: number
  /** Most connections at once; past it the handshake is refused (503, `limit`). @default 50000 */
  maxConnections?: number
  /**
   * Most connections at once from one IP address (429, `limit`); the same address may hold 16 more TCP sockets
   * (upgrades in progress, HTTP requests), and a socket past that is closed before it is read. Loopback peers
   * (127.0.0.0/8, ::1) are not counted unless this is set: a local load test or a local client fleet is one
   * address, and a broker reachable from the network still limits every other address. With `trustProxy`
   * every address counts (the loopback peer is then the proxy). @default 1000
   */
  maxConnectionsPerIp?: number
  /**
   * New connections admitted per second; past it the handshake is refused with Retry-After (503, `limit`).
   * Loopback peers are not counted unless this is set (as `maxConnectionsPerIp`). @default 2000
   */
  maxConnectsPerSecond?: number
  /**
   * Time a TCP socket has to send its whole upgrade (or HTTP) request; past it the broker answers 408 and closes
   * it (Node's `headersTimeout`). Only for the HTTP server the broker creates (not an attached `server`). @default 10000
   */
  headersTimeoutMs?: number
  /** Time a whole HTTP request may take (Node's `requestTimeout`); at least `headersTimeoutMs`. @default 30000 */
  requestTimeoutMs?: number
  /** Messages one connection may publish per second (its reads pause past it); 0 = no limit. @default 0 */
  maxMsgsPerSecond?: number
  /** Payload bytes one connection may publish per second (its reads pause past it); 0 = no limit. @default 0 */
  maxBytesPerSecond?: number
  /** Negotiate permessage-deflate; inflated messages stay bounded by `maxFrame`. @default false */
  perMessageDeflate?: boolean
  /** Take the client address from `X-Forwarded-For` (only behind a proxy you run). @default false */
  trustProxy?: boolean
  /** Topics to create at start (more can be added at run time with `c.topics.add`). */
  topics?: TopicConfig[]
  /** Most topics at once (`c.topics.add` past it: `limit`). @default 100 */
  maxTopics?: number
  /** `maxBytes` of a topic that sets none, so no topic can hold memory without bound. @default 64 MiB */
  defaultTopicMaxBytes?: number
  /** Alias of `maxPendingBytes` (the topics issue's name for it). */
  maxPendingBytesPerClient?: number
  /**
   * Directory of file topics (`storage: 'file'`): reopened at start, created when the first file topic is.
   * Without it, a file topic is refused with `bad_option`. @default none (topics in memory only)
   */
  dataDir?: string
  /** Tuning of file topics, and the file-system seam tests inject faults through. */
  fileStore?: FileStoreTuning
  /** How long a dropped `resume: true` session is kept for its client to come back (session-resume.ts). @default 120000 */
  resumeWindowMs?: number
  /** Bytes of deliveries one resumable session keeps for a replay (unacked while connected, all while parked). @default 2 MiB (at most maxPendingBytes) */
  resumeMaxBytes?: number
  /** Bytes all resumable sessions keep together; past it a session makes room in its own log first. @default 256 MiB */
  resumeMaxTotalBytes?: number
  /** Dropped sessions kept at once; past it the oldest is ended (its client gets a `gap`). @default 10000 */
  resumeMaxSessions?: number
  /**
   * Join other nodes through Redis so they act as one broker (issue 14): `{ redis: 'redis://127.0.0.1:6379', name: 'eu' }`,
   * or the URL alone. Topics created without `storage` then live in Redis. @default none (the broker runs alone)
   */
  cluster?: ClusterOptions | string
}

/** Every option createBroker knows: any other key is refused (a misspelt limit must not pass as a default). */
const BROKER_OPTION_KEYS: Record<keyof Required<BrokerOptions>, true> = {
  port: true, host: true, path: true, server: true, logger: true, serverName: true, maxPayload: true, maxFrame: true,
  maxSubjectLength: true, maxHeaders: true, maxOpsPerFrame: true, maxSubscriptionsPerConnection: true,
  maxSubscriptions: true, maxSubscriptionsPerIp: true, heartbeatMs: true, connectTimeoutMs: true,
  maxPendingBytes: true, highWaterBytes: true, stallMs: true, closeGraceMs: true, subjectCacheSize: true, auth: true,
  tls: true, allowedOrigins: true, authTimeoutMs: true, maxConnections: true, maxConnectionsPerIp: true,
  maxConnectsPerSecond: true, headersTimeoutMs: true, requestTimeoutMs: true, maxMsgsPerSecond: true,
  maxBytesPerSecond: true, perMessageDeflate: true, trustProxy: true, topics: true, maxTopics: true,
  defaultTopicMaxBytes: true, maxPendingBytesPerClient: true, dataDir: true, fileStore: true,
  resumeWindowMs: true, resumeMaxBytes: true, resumeMaxTotalBytes: true, resumeMaxSessions: true, cluster: true,
}

const FILE_STORE_KEYS: Record<keyof Required<FileStoreTuning>, true> = { io: true, segmentBytes: true, cacheBytes: true }

/** The file store's tuning, checked. @throws `bad_option` for an unknown key or an absurd size */
function checkFileStore(tuning: unknown): FileStoreTuning {
  if (tuning === undefined) return {}
  if (tuning === null || typeof tuning !== 'object') throw new SubwireError('bad_option', 'option fileStore must be an object')
  for (const key of Object.keys(tuning)) {
    if (!Object.hasOwn(FILE_STORE_KEYS, key)) throw new SubwireError('bad_option', `unknown fileStore option ${JSON.stringify(key)}`)
  }
  const t = tuning as FileStoreTuning
  // A segment holds at least a few records, and recovery reads one whole: between 4 KiB and 1 GiB.
  for (const [key, min, max] of [['segmentBytes', 4096, 2 ** 30], ['cacheBytes', 0, 2 ** 40]] as const) {
    const v = t[key]
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max)) {
      throw new SubwireError('bad_option', `option fileStore.${key} must be an integer from ${min} to ${max}, got ${String(v)}`)
    }
  }
  return { ...(t.io === undefined ? {} : { io: t.io }), ...(t.segmentBytes === undefined ? {} : { segmentBytes: t.segmentBytes }), ...(t.cacheBytes === undefined ? {} : { cacheBytes: t.cacheBytes }) }
}

/** The data directory, absolute, or null. @throws `bad_option` when it is not a usable directory path */
function checkDataDir(dir: unknown): string | null {
  if (dir === undefined) return null
  if (typeof dir !== 'string' || dir.length === 0) throw new SubwireError('bad_option', 'option dataDir must be a non-empty path')
  const path = resolvePath(dir)
  if (existsSync(path) && !statSync(path).isDirectory()) throw new SubwireError('bad_option', `option dataDir: ${path} exists and is not a directory`)
  return path
}

export type { FileStoreTuning }

/** The checked, frozen options. */
export interface BrokerConfig {
  /** Absolute path of the data directory, or null (memory topics only). */
  readonly dataDir: string | null
  /** The file store's tuning, checked (only the keys it knows). */
  readonly fileStore: FileStoreTuning
  readonly port: number
  readonly host: string
  readonly path: string
  readonly serverName: string
  readonly maxPayload: number
  readonly maxFrame: number
  readonly maxSubjectLength: number
  readonly maxHeaders: number
  readonly maxOpsPerFrame: number
  readonly maxSubscriptionsPerConnection: number
  readonly maxSubscriptions: number
  readonly maxSubscriptionsPerIp: number
  readonly heartbeatMs: number
  readonly connectTimeoutMs: number
  readonly maxPendingBytes: number
  readonly highWaterBytes: number
  readonly stallMs: number
  readonly closeGraceMs: number
  readonly subjectCacheSize: number
  readonly authTimeoutMs: number
  readonly maxConnections: number
  readonly maxConnectionsPerIp: number
  readonly maxConnectsPerSecond: number
  /**
   * Which per-address limits leave loopback peers alone: those not set explicitly, unless `trustProxy` is on
   * (addresses then come from the proxy's header and every one counts).
   */
  readonly loopbackExempt: LoopbackExempt
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly maxMsgsPerSecond: number
  readonly maxBytesPerSecond: number
  readonly perMessageDeflate: boolean
  readonly trustProxy: boolean
  readonly allowedOrigins: readonly string[] | null
  readonly maxTopics: number
  readonly defaultTopicMaxBytes: number
  readonly resumeWindowMs: number
  readonly resumeMaxBytes: number
  readonly resumeMaxTotalBytes: number
  readonly resumeMaxSessions: number
  /** The cluster this node joins, or null when it runs alone. */
  readonly cluster: ClusterConfig | null
}

/** Per option: true when loopback peers are not counted against it (see `BrokerConfig.loopbackExempt`). */
export interface LoopbackExempt {
  readonly maxConnectionsPerIp: boolean
  readonly maxSubscriptionsPerIp: boolean
  readonly maxConnectsPerSecond: boolean
}

/**
 * Bytes of the largest single delivery: a `maxPayload` payload as base64 (what a JSON-subprotocol client gets;
 * msgpack is smaller), subject and reply, and a kilobyte for the MSG envelope (sid, seq, time, delivery
 * count). A connection's pending budget below this could never send such a message, so it is the real
 * lower bound of `maxPendingBytes` (not `maxFrame`: outbound frames are 64 KiB).
 */
export function largestDelivery(config: Pick<BrokerConfig, 'maxPayload' | 'maxSubjectLength'>): number {
  return Math.ceil(config.maxPayload / 3) * 4 + 2 * config.maxSubjectLength + 1024
}

function positiveInt(options: BrokerOptions, key: keyof BrokerOptions, fallback: number, min = 1): number {
  const v = options[key]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new SubwireError('bad_option', `option ${key} must be an integer >= ${min}, got ${String(v)}`)
  }
  return v
}

/** A duration that arms a timer: an integer from `min` to MAX_TIMER_MS (2^31-1, the most setTimeout holds). */
function duration(options: BrokerOptions, key: keyof BrokerOptions, fallback: number, min = 1): number {
  const v = options[key]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > MAX_TIMER_MS) {
    throw new SubwireError('bad_option', `option ${key} must be an integer from ${min} to ${MAX_TIMER_MS} ms, got ${String(v)}`)
  }
  return v
}

function checkOrigins(origins: unknown): readonly string[] | null {
  if (origins === undefined) return null
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string')) throw new SubwireError('bad_option', 'allowedOrigins must be an array of origins such as https://app.example.com')
  return Object.freeze(origins.map((o: string) => o.toLowerCase().replace(/\/$/, '')))
}

/** Merges options with defaults once and checks them; never mutates the caller's object. */
export function resolveConfig(options: BrokerOptions): BrokerConfig {
  if (typeof options !== 'object' || options === null) throw new SubwireError('bad_option', 'broker options must be an object')
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(BROKER_OPTION_KEYS, key)) throw new SubwireError('bad_option', `unknown broker option ${JSON.stringify(key)}`)
  }
  const path = options.path ?? '/'
  if (typeof path !== 'string' || !path.startsWith('/')) throw new SubwireError('bad_option', `option path must start with '/', got ${String(path)}`)
  const trustProxy = options.trustProxy === true
  const maxPendingBytes = positiveInt(options, 'maxPendingBytes', positiveInt(options, 'maxPendingBytesPerClient', DEFAULT_LIMITS.maxPendingBytes))
  const config: BrokerConfig = {
    port: positiveInt(options, 'port', DEFAULT_PORT, 0),
    host: options.host ?? '127.0.0.1',
    path,
    serverName: options.serverName ?? 'subwire',
    maxPayload: positiveInt(options, 'maxPayload', DEFAULT_LIMITS.maxPayload),
    maxFrame: positiveInt(options, 'maxFrame', DEFAULT_LIMITS.maxFrame),
    maxSubjectLength: positiveInt(options, 'maxSubjectLength', DEFAULT_LIMITS.maxSubjectLength),
    maxHeaders: positiveInt(options, 'maxHeaders', DEFAULT_LIMITS.maxHeaders, 0),
    maxOpsPerFrame: positiveInt(options, 'maxOpsPerFrame', DEFAULT_LIMITS.maxOpsPerFrame),
    maxSubscriptionsPerConnection: positiveInt(options, 'maxSubscriptionsPerConnection', DEFAULT_LIMITS.maxSubscriptionsPerConnection),
    maxSubscriptions: positiveInt(options, 'maxSubscriptions', 1_000_000),
    maxSubscriptionsPerIp: positiveInt(options, 'maxSubscriptionsPerIp', 200_000),
    heartbeatMs: duration(options, 'heartbeatMs', DEFAULT_LIMITS.heartbeatMs),
    connectTimeoutMs: duration(options, 'connectTimeoutMs', DEFAULT_LIMITS.connectTimeoutMs),
    maxPendingBytes,
    highWaterBytes: positiveInt(options, 'highWaterBytes', Math.min(64 * 1024, Math.floor(maxPendingBytes / 4))),
    stallMs: duration(options, 'stallMs', 250),
    closeGraceMs: duration(options, 'closeGraceMs', 2000),
    subjectCacheSize: positiveInt(options, 'subjectCacheSize', 4096, 0),
    authTimeoutMs: duration(options, 'authTimeoutMs', duration(options, 'connectTimeoutMs', DEFAULT_LIMITS.connectTimeoutMs)),
    maxConnections: positiveInt(options, 'maxConnections', 50_000),
    maxConnectionsPerIp: positiveInt(options, 'maxConnectionsPerIp', 1000),
    maxConnectsPerSecond: positiveInt(options, 'maxConnectsPerSecond', 2000),
    loopbackExempt: Object.freeze({
      maxConnectionsPerIp: !trustProxy && options.maxConnectionsPerIp === undefined,
      maxSubscriptionsPerIp: !trustProxy && options.maxSubscriptionsPerIp === undefined,
      maxConnectsPerSecond: !trustProxy && options.maxConnectsPerSecond === undefined,
    }),
    headersTimeoutMs: duration(options, 'headersTimeoutMs', 10_000),
    requestTimeoutMs: duration(options, 'requestTimeoutMs', 30_000),
    maxMsgsPerSecond: positiveInt(options, 'maxMsgsPerSecond', 0, 0),
    maxBytesPerSecond: positiveInt(options, 'maxBytesPerSecond', 0, 0),
    perMessageDeflate: options.perMessageDeflate === true,
    trustProxy,
    allowedOrigins: checkOrigins(options.allowedOrigins),
    maxTopics: positiveInt(options, 'maxTopics', 100),
    defaultTopicMaxBytes: positiveInt(options, 'defaultTopicMaxBytes', 64 * 1024 * 1024),
    dataDir: checkDataDir(options.dataDir),
    fileStore: checkFileStore(options.fileStore),
    resumeWindowMs: duration(options, 'resumeWindowMs', 120_000),
    resumeMaxBytes: positiveInt(options, 'resumeMaxBytes', Math.min(2 * 1024 * 1024, maxPendingBytes), 1024),
    resumeMaxTotalBytes: positiveInt(options, 'resumeMaxTotalBytes', 256 * 1024 * 1024, 1024),
    resumeMaxSessions: positiveInt(options, 'resumeMaxSessions', 10_000),
    cluster: resolveClusterConfig(options.cluster),
  }
  // A frame must hold a client's 64 KiB batch plus one largest message (client/op-buffer.ts).
  if (config.maxFrame < config.maxPayload + 64 * 1024 + config.maxSubjectLength * 2 + 1024) {
    throw new SubwireError('bad_option', 'maxFrame must be at least maxPayload + 64 KiB + two subjects and the envelope')
  }
  if (config.maxPendingBytes < largestDelivery(config)) {
    throw new SubwireError('bad_option', `maxPendingBytes must hold the largest delivery: at least ${largestDelivery(config)} bytes for maxPayload ${config.maxPayload} (base64 payload, two subjects and 1 KiB of envelope)`)
  }
  if (config.highWaterBytes > config.maxPendingBytes) throw new SubwireError('bad_option', 'highWaterBytes must not be above maxPendingBytes')
  // A replay is written to the new connection at once: it must fit in its outbound queue.
  if (config.resumeMaxBytes > config.maxPendingBytes) throw new SubwireError('bad_option', 'resumeMaxBytes must not be above maxPendingBytes')
  if (config.resumeMaxBytes > config.resumeMaxTotalBytes) throw new SubwireError('bad_option', 'resumeMaxBytes must not be above resumeMaxTotalBytes')
  if (config.requestTimeoutMs < config.headersTimeoutMs) throw new SubwireError('bad_option', 'requestTimeoutMs must be at least headersTimeoutMs')
  return Object.freeze(config)
}
