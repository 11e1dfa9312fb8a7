/**
 * The table of every option `subwire serve` takes: its kind, bounds, default (for `--help`) and what it does.
 * It drives the schema, the flag and variable names and `--help` (serve-config.ts).
 */
import { DEFAULT_LIMITS } from '../../shared/protocol.ts'
import { DEFAULT_PORT } from '../options.ts'

/** How a value is written and checked. */
export type Kind = 'int' | 'bytes' | 'ms' | 'string' | 'secret' | 'path' | 'dir' | 'bool' | 'list' | 'level' | 'format' | 'cluster' | 'workers'

/** One option: its kind, bounds, default (for `--help`) and what it does. */
export interface OptionSpec {
  kind: Kind
  help: string
  default?: string
  min?: number
  max?: number
  /** A serve-only option (not passed to createBroker). */
  serve?: boolean
  /** Another name of this option: set either (not both, in one source), the value goes to `alias`. */
  alias?: string
}

/** Every option `subwire serve` takes. Keys are the config file's (and createBroker's) names. */
export const SERVE_OPTIONS = {
  port: { kind: 'int', min: 0, max: 65535, default: String(DEFAULT_PORT), help: 'TCP port (0 = any free port)' },
  host: { kind: 'string', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0 for all)' },
  path: { kind: 'path', default: '/', help: 'URL path of WebSocket upgrades' },
  serverName: { kind: 'string', default: 'subwire', help: 'name announced to clients' },
  logLevel: { kind: 'level', default: 'info', serve: true, help: 'fatal|error|warn|info|debug|trace|silent' },
  logFormat: { kind: 'format', default: 'pretty on a terminal, else json', serve: true, help: 'json (one line per event) or pretty' },
  shutdownTimeoutMs: { kind: 'ms', min: 1, default: '10s', serve: true, help: 'on SIGTERM/SIGINT, exit at the latest after this' },
  statsIntervalMs: { kind: 'ms', min: 10, default: '1s', serve: true, help: 'period of $SYS.stats and of the monitor charts' },
  monitor: { kind: 'bool', default: 'true', serve: true, help: 'serve /healthz, /readyz, /metrics, /stats and the web monitor' },
  monitorToken: { kind: 'secret', serve: true, help: 'a token for /stats, /metrics, the web monitor and $SYS (needs auth in --config; prefer the env)' },
  tlsCert: { kind: 'string', serve: true, help: 'PEM certificate file: serve wss:// and https://' },
  tlsKey: { kind: 'string', serve: true, help: 'PEM private key file (with tlsCert)' },
  tlsCa: { kind: 'string', serve: true, help: 'PEM CA bundle file (optional, with tlsCert)' },
  maxPayload: { kind: 'bytes', min: 1, default: '1MiB', help: 'largest message (data + headers)' },
  maxFrame: { kind: 'bytes', min: 1, default: '4MiB', help: 'largest WebSocket frame' },
  maxSubjectLength: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxSubjectLength), help: 'longest subject, bytes' },
  maxHeaders: { kind: 'int', min: 0, default: String(DEFAULT_LIMITS.maxHeaders), help: 'most headers on a message' },
  maxOpsPerFrame: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxOpsPerFrame), help: 'most ops in one inbound frame' },
  maxSubscriptionsPerConnection: { kind: 'int', min: 1, default: String(DEFAULT_LIMITS.maxSubscriptionsPerConnection), help: 'most subscriptions per connection' },
  maxPendingBytes: { kind: 'bytes', min: 1, default: '8MiB', help: 'unsent bytes per connection before it is a slow consumer' },
  maxPendingBytesPerClient: { kind: 'bytes', min: 1, alias: 'maxPendingBytes', help: 'the same as maxPendingBytes (its name in the topics work)' },
  highWaterBytes: { kind: 'bytes', min: 1, default: '64KiB', help: 'unsent bytes past which publishers are paused' },
  stallMs: { kind: 'ms', min: 1, default: '250ms', help: 'how long a congested subscriber may hold publishers back' },
  heartbeatMs: { kind: 'ms', min: 1, default: '20s', help: 'PING interval (two missed: stale connection)' },
  connectTimeoutMs: { kind: 'ms', min: 1, default: '5s', help: 'time a new socket has to send CONNECT' },
  closeGraceMs: { kind: 'ms', min: 1, default: '2s', help: 'time a closing connection gets for the close handshake' },
  subjectCacheSize: { kind: 'int', min: 0, default: '4096', help: 'subjects whose matches are cached (0 = off)' },
  authTimeoutMs: { kind: 'ms', min: 1, default: 'connectTimeoutMs', help: 'time a new socket has to authenticate' },
  maxConnections: { kind: 'int', min: 1, default: '50000', help: 'most connections at once' },
  maxConnectionsPerIp: { kind: 'int', min: 1, default: '1000', help: 'most connections from one IP address' },
  maxConnectsPerSecond: { kind: 'int', min: 1, default: '2000', help: 'new connections admitted per second' },
  maxSubscriptions: { kind: 'int', min: 1, default: '1000000', help: 'most subscriptions on the whole broker' },
  maxSubscriptionsPerIp: { kind: 'int', min: 1, default: '200000', help: 'most subscriptions of all connections from one IP address' },
  headersTimeoutMs: { kind: 'ms', min: 1, max: 2 ** 31 - 1, default: '10s', help: 'time a socket has to send its whole upgrade request' },
  requestTimeoutMs: { kind: 'ms', min: 1, max: 2 ** 31 - 1, default: '30s', help: 'time an HTTP request may take in all' },
  maxMsgsPerSecond: { kind: 'int', min: 0, default: '0 (no limit)', help: 'messages one connection may publish per second' },
  maxBytesPerSecond: { kind: 'bytes', min: 0, default: '0 (no limit)', help: 'payload bytes one connection may publish per second' },
  perMessageDeflate: { kind: 'bool', default: 'false', help: 'negotiate permessage-deflate compression' },
  trustProxy: { kind: 'bool', default: 'false', help: 'take client addresses from X-Forwarded-For' },
  allowedOrigins: { kind: 'list', default: 'any', help: 'browser origins allowed to connect (comma-separated)' },
  maxTopics: { kind: 'int', min: 1, default: '100', help: 'most durable topics at once (config file topics and added ones)' },
  defaultTopicMaxBytes: { kind: 'bytes', min: 1, default: '64MiB', help: 'maxBytes of a topic that sets none' },
  resumeWindowMs: { kind: 'ms', min: 1, max: 2 ** 31 - 1, default: '120s', help: 'how long a dropped resume: true session waits for its client' },
  resumeMaxBytes: { kind: 'bytes', min: 1024, default: '2MiB (at most maxPendingBytes)', help: 'deliveries one resumable session keeps for its replay' },
  resumeMaxTotalBytes: { kind: 'bytes', min: 1024, default: '256MiB', help: 'deliveries all resumable sessions keep together' },
  resumeMaxSessions: { kind: 'int', min: 1, default: '10000', help: 'dropped sessions kept at once (past it the oldest ends)' },
  cluster: { kind: 'cluster', serve: true, help: 'join the nodes on this Redis as one broker: redis://host:port or rediss://user:pass@host:port (password never printed; prefer the env)' },
  clusterName: { kind: 'string', serve: true, default: 'subwire', help: 'the cluster to join on that Redis (its keys start with subwire:<name>:)' },
  workers: { kind: 'workers', serve: true, help: 'run N brokers (1 to 64, or auto: one per core) sharing the port, joined by --cluster' },
  dataDir: { kind: 'dir', default: './data', help: 'directory of file topics (storage: file), relative to the working directory; made with the first one' },
} as const satisfies Record<string, OptionSpec>
