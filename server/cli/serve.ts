/**
 * `subwire serve`: runs a broker with its monitoring, configured from flags, `SUBWIRE_*` variables and a
 * config file (serve-config.ts), and stops it gracefully on SIGTERM/SIGINT: not ready at once (so a load
 * balancer stops sending), clients told "going away" (so they reconnect elsewhere), exit within
 * `shutdownTimeoutMs`; a second signal exits at once.
 */
import { createBroker, type Broker } from '../broker.ts'
import { attachMonitoring, type Monitoring } from '../monitoring/monitoring.ts'
import { cliLogger } from './log-format.ts'
import { flagName, loadServeConfig, serveOptionsHelp, SERVE_OPTIONS, type ServeConfig } from './serve-config.ts'
import { SubwireError } from '../../shared/errors.ts'
import { EXIT, parseCommand, type CliIo } from './io.ts'
import type { Logger } from 'pino'
import { masker, maskUrls, passwordsOf } from './redact.ts'
import { isServeWorker, reportReady, runWorkers, WORKER_NODE_ID_ENV } from './workers.ts'
import type { ClusterOptions } from '../cluster/cluster-options.ts'

export const SERVE_USAGE = `Usage: subwire serve [options]

Runs a subwire broker with its web monitor, health, metrics and stats endpoints on the same port.
Every option can also be set in a JSON config file (--config; the key is the camelCase name, "maxPayload") or
an environment variable (SUBWIRE_ and the name in capitals, SUBWIRE_MAX_PAYLOAD); flags win over variables,
variables over the file, the file over the defaults [shown in brackets]. Sizes take units (64KiB, 1MiB),
durations too (250ms, 10s). A config file may also hold "auth" (users, tokens, JWT; see README) and "topics",
a list of durable topics to create at start:
  "topics": [{ "name": "orders", "subjects": ["orders.>"], "maxMsgs": 100000, "maxAgeMs": "24h" }]
with the keys name, subjects, maxMsgs, maxBytes, maxAgeMs, maxMsgsPerSubject, discard ("old"|"new"),
duplicateWindowMs, storage ("memory"|"file") and fsync ("always"|"never"|an interval, e.g. "100ms"); see
subwire topics add --help. A topic is kept in memory unless it says "storage": "file": it is then written
under --data-dir (./data by default, made with the first file topic) and reopened, with its consumer groups,
by the next broker started on the same directory.

With auth on, /stats, /stats/history, /metrics and the web monitor's data need a credential whose permissions
say "monitor": true (or have no restrictions), sent as Authorization: Bearer <token> (or Basic user:password);
/healthz and /readyz stay open. --monitor-token (better: SUBWIRE_MONITOR_TOKEN, not seen in ps) adds a token
that may read the monitoring and $SYS and nothing else.

With --cluster redis://host:6379 (better SUBWIRE_CLUSTER for a URL with a password: ps does not show it) the
broker is one node of a cluster: the nodes on one Redis with one --cluster-name act as one broker (clients may
connect to any), and topics live in Redis. --workers N (needs --cluster; auto = one per core) runs N such nodes
as processes of this machine sharing the port; one that dies is restarted, SIGTERM drains and stops them all.

Options:
  --config FILE                       JSON config file (env SUBWIRE_CONFIG)
  --print-config                      print the resolved configuration with where each value came from, and exit
${serveOptionsHelp()}
  -h, --help                          show this help

On SIGTERM or SIGINT the broker stops accepting, reports not ready, tells clients "going away" and exits within
shutdownTimeoutMs; a second signal exits at once.
`

/** Codes with which createBroker refuses the topics of a config (exit code 2, like any bad configuration). */
const TOPIC_CONFIG_ERRORS: ReadonlySet<string> = new Set(['bad_topic_config', 'topic_overlap', 'topic_exists', 'limit'])

/** parseArgs options for every serve option: strings, and booleans with --no-<flag>. */
function serveFlags(): Record<string, { type: 'string' } | { type: 'boolean' }> {
  const flags: Record<string, { type: 'string' } | { type: 'boolean' }> = {
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
    help: { type: 'boolean' },
  }
  for (const [key, spec] of Object.entries(SERVE_OPTIONS)) flags[flagName(key)] = { type: spec.kind === 'bool' ? 'boolean' : 'string' }
  return flags
}

/** The resolved configuration as the operator would want to check it (secrets left out). */
function describeConfig(config: ServeConfig): string {
  const { auth, tls, ...broker } = config.broker as Record<string, unknown>
  const shown = {
    ...broker,
    logLevel: config.logLevel,
    logFormat: config.logFormat ?? 'auto',
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    statsIntervalMs: config.statsIntervalMs,
    monitor: config.monitor,
    ...(tls === undefined ? {} : { tls: '(certificate loaded)' }),
    ...(auth === undefined ? {} : { auth: '(configured)' }),
  }
  return maskUrls(`${JSON.stringify({ file: config.file, options: { ...shown, workers: config.workers }, sources: config.sources }, null, 2)}\n`)
}

/** A topic's storage, 'memory' for a broker that reports none (before file topics). */
function storageOf(t: object): string {
  const storage = (t as { storage?: unknown }).storage
  return typeof storage === 'string' ? storage : 'memory'
}

/** Where to point a browser and tools, printed once the broker listens. */
function banner(broker: Broker, monitoring: Monitoring | null, dataDir: string | undefined, cluster: ClusterOptions | string | undefined): string {
  const http = broker.url.replace(/^ws/, 'http').replace(/(:\d+)\/.*$/, '$1')
  let text = `subwire broker listening on ${broker.url}\n`
  if (monitoring !== null) {
    text += `  monitor:  ${http}/  (open in a browser${monitoring.authRequired ? '; it asks for a token with the monitor permission' : ''})\n`
    text += `  health:   ${http}/healthz  ${http}/readyz   metrics: ${http}/metrics   stats: ${http}/stats\n`
  }
  const topics = broker.topics.list()
  if (topics.length > 0) text += `  topics:   ${topics.map((t) => `${t.name} (${t.config.subjects.join(', ')}${storageOf(t) === 'memory' ? '' : `; ${storageOf(t)}`})`).join(', ')}\n`
  // A node of a cluster keeps its topics in Redis (it refuses file topics): its data directory would mislead.
  if (dataDir !== undefined && cluster === undefined) text += `  data:     ${dataDir}  (file topics${topics.some((t) => storageOf(t) === 'file') ? '' : '; none yet, nothing written'})\n`
  if (cluster !== undefined) text += `${clusterLine(cluster)} as node ${broker.cluster.nodeId}\n`
  text += `  connect with: connect('${broker.url}') from 'subwire/client', or: subwire sub '>' --server ${broker.url}\n`
  return text
}

/** The banner's line about the cluster: its name and Redis, passwords masked. */
function clusterLine(cluster: ClusterOptions | string): string {
  const o = typeof cluster === 'string' ? { redis: cluster } : cluster
  const urls = Array.isArray(o.redis) ? o.redis : [o.redis]
  return `  cluster:  ${o.name ?? 'subwire'} on ${maskUrls(urls.join(', '))}`
}

/** The Redis URLs of the configuration (their passwords are masked in every log line). */
function clusterUrls(cluster: ClusterOptions | string | undefined): string[] {
  if (cluster === undefined) return []
  const redis = typeof cluster === 'string' ? cluster : cluster.redis
  return Array.isArray(redis) ? [...redis] : [redis as string]
}

/** Installs the signal handlers of a running broker. */
function onSignals(broker: Broker, monitoring: Monitoring | null, logger: Logger, timeoutMs: number, io: CliIo, worker: boolean): void {
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once')
      process.exit(EXIT.failed)
    }
    stopping = true
    logger.info({ signal, shutdownTimeoutMs: timeoutMs }, 'shutting down: not ready, telling clients to go')
    const deadline = setTimeout(() => {
      logger.error({ shutdownTimeoutMs: timeoutMs }, 'shutdown timed out: exiting with clients still connected')
      process.exit(EXIT.failed)
    }, timeoutMs)
    deadline.unref()
    broker.close().then(() => {
      monitoring?.close()
      io.err('subwire broker stopped\n')
      process.exit(EXIT.ok)
    }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(EXIT.failed)
    })
  }
  // A worker's SIGINT is the terminal's Ctrl-C to the whole process group: the primary forwards it as SIGTERM,
  // and taking both would be the "second signal" that exits at once. A handler that does nothing (no handler
  // would let SIGINT kill the worker outright).
  process.on('SIGINT', worker ? () => {} : stop)
  process.on('SIGTERM', stop)
}

export async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, serveFlags())
  if (values.help === true) { io.out(SERVE_USAGE); return EXIT.ok }
  const config = loadServeConfig({ flags: values as Record<string, string | boolean | undefined>, env: io.env })
  if (values['print-config'] === true) { io.out(describeConfig(config)); return EXIT.ok }
  const urls = clusterUrls(config.broker.cluster)
  const logger = cliLogger(config.logLevel, config.logFormat ?? (process.stdout.isTTY === true ? 'pretty' : 'json'), urls.length === 0 ? null : masker(passwordsOf(urls)))
  const worker = config.workers !== null && isServeWorker(io.env)
  if (config.workers !== null && !worker) {
    const nodeId = typeof config.broker.cluster === 'object' ? config.broker.cluster.nodeId : undefined
    return runWorkers({ count: config.workers, shutdownTimeoutMs: config.shutdownTimeoutMs, nodeId }, logger, io)
  }
  const workerNodeId = worker ? io.env[WORKER_NODE_ID_ENV] : undefined
  if (workerNodeId !== undefined && config.broker.cluster !== undefined) {
    const cluster = typeof config.broker.cluster === 'string' ? { redis: config.broker.cluster } : config.broker.cluster
    config.broker.cluster = { ...cluster, nodeId: workerNodeId }
  }
  let broker: Broker
  try {
    broker = await createBroker({ ...config.broker, logger })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') throw new SubwireError('bad_option', `port ${config.broker.port ?? ''} is already in use (try --port 0 for any free port)`, { cause: err })
    if (code === 'EADDRNOTAVAIL') throw new SubwireError('bad_option', `cannot listen on host ${config.broker.host ?? ''}: no such interface`, { cause: err })
    // The config file's topics passed our checks; one the broker still refuses is a configuration error too.
    if (err instanceof SubwireError && TOPIC_CONFIG_ERRORS.has(err.code)) throw new SubwireError('bad_option', `topics in ${config.file ?? 'the config'}: ${err.message}`, { cause: err })
    throw err
  }
  const monitoring = config.monitor ? attachMonitoring(broker, { sysStats: { intervalMs: config.statsIntervalMs } }) : null
  const text = banner(broker, monitoring, (config.broker as { dataDir?: string }).dataDir, config.broker.cluster)
  if (worker) reportReady({ banner: text, nodeId: broker.cluster.nodeId })
  else io.err(text)
  onSignals(broker, monitoring, logger, config.shutdownTimeoutMs, io, worker)
  // The process now lives on the broker's server; the signal handlers end it.
  return EXIT.ok
}
