/**
 * `subwire serve`'s cluster options (issue 14): `--cluster URL` (`SUBWIRE_CLUSTER`, config `cluster`: the URL
 * or the broker's whole `cluster` object), `--cluster-name`, and `--workers N`, the number of broker
 * processes sharing the port on this machine (server/cli/workers.ts). They are checked here with the broker's
 * own rules (cluster-options.ts), so an error names the flag, variable or file key, and never shows a
 * password.
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { SubwireError } from '../../shared/errors.ts'
import { resolveClusterConfig, type ClusterOptions } from '../cluster/cluster-options.ts'
import { maskUrls } from './redact.ts'

/** The most workers `--workers` starts (each is a whole broker: more than the cores only adds switching). */
export const MAX_WORKERS = 64
/** The longest configured nodeId that `-<n>` (up to `-64`) keeps within the cluster's 64 characters. */
const MAX_WORKER_BASE = 61

const URL_EXAMPLE = 'a Redis URL such as redis://127.0.0.1:6379 (rediss://user:pass@host:port for TLS)'

/** The broker's message without its `option cluster: ` prefix, passwords masked. */
function brokerProblem(options: unknown): string | null {
  try {
    resolveClusterConfig(options)
    return null
  } catch (err) {
    return maskUrls((err as Error).message.replace(/^option cluster: /, ''))
  }
}

/** Why `url` is not a URL, without echoing it (an unparsable string may hold a password in the clear). */
function urlProblem(url: unknown): string | null {
  if (typeof url !== 'string') return `must be ${URL_EXAMPLE}`
  try {
    new URL(url)
    return null
  } catch {
    return `must be ${URL_EXAMPLE} (this one is not a URL)`
  }
}

/** `redis://a:6379,redis://b:6379` → both; a flag or variable names several addresses of one Redis that way. */
function splitUrls(raw: string): string | string[] {
  const urls = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return urls.length === 1 ? (urls[0] ?? raw) : urls
}

/** What is wrong with a `cluster` value, or null. */
function clusterProblem(value: unknown): string | null {
  if (typeof value === 'string') {
    const urls = splitUrls(value)
    for (const url of Array.isArray(urls) ? urls : [urls]) {
      const problem = urlProblem(url)
      if (problem !== null) return problem
    }
    return brokerProblem({ redis: urls })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `must be ${URL_EXAMPLE}, or an object such as { "redis": "redis://127.0.0.1:6379", "name": "eu" }`
  }
  const redis = (value as { redis?: unknown }).redis
  for (const url of Array.isArray(redis) ? redis : [redis]) {
    const problem = urlProblem(url)
    if (problem !== null) return `redis ${problem}`
  }
  return brokerProblem(value)
}

/** The schema of the `cluster` option: a URL (flags, variables, files) or an object (files). */
export const CLUSTER_SCHEMA: z.ZodType = z.unknown().superRefine((value, ctx) => {
  const problem = clusterProblem(value)
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
}).transform((value) => (typeof value === 'string' ? splitUrls(value) : value))

/** The schema of `--workers`: 1 to 64, or `auto` (or 0): one per core. */
export const WORKERS_SCHEMA: z.ZodType = z.preprocess(
  (raw) => (raw === 'auto' ? 0 : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw),
  z.number({ error: 'must be a number of processes from 1 to 64, or auto' })
    .int({ error: 'must be a number of processes from 1 to 64, or auto' })
    .min(0, { error: 'must be a number of processes from 1 to 64, or auto' })
    .max(MAX_WORKERS, { error: `must be at most ${MAX_WORKERS}` }),
)

/** How each option was written, for the messages: `--workers`, `SUBWIRE_WORKERS`, `workers in subwire.json`. */
export interface WrittenAs {
  cluster: string
  clusterName: string
  workers: string
}

/** The cluster options of serve, resolved. */
export interface ServeCluster {
  /** What createBroker gets as `cluster`, or undefined when the broker runs alone. */
  cluster: ClusterOptions | string | undefined
  /** Broker processes sharing the port, or null for one broker in this process. */
  workers: number | null
}

/**
 * `cluster` (a URL, several or an object) with `clusterName` over its name, and the number of workers.
 * @throws SubwireError `bad_option` for a name the cluster refuses, or workers without a cluster
 */
export function resolveServeCluster(values: { cluster?: unknown; clusterName?: unknown; workers?: unknown }, written: WrittenAs): ServeCluster {
  const { cluster: raw, clusterName, workers } = values
  let cluster: ClusterOptions | string | undefined
  if (raw !== undefined) {
    // The URL alone stays the broker's shorthand (and reads so in --print-config); a list needs the object.
    const base: ClusterOptions | string = typeof raw === 'string' ? raw : Array.isArray(raw) ? { redis: raw as string[] } : (raw as ClusterOptions)
    cluster = clusterName === undefined ? base : { ...(typeof base === 'string' ? { redis: base } : base), name: clusterName as string }
    if (clusterName !== undefined) {
      const problem = brokerProblem(cluster)
      if (problem !== null) throw new SubwireError('bad_option', `${written.clusterName}: ${problem}`)
    }
  } else if (clusterName !== undefined) {
    throw new SubwireError('bad_option', `${written.clusterName} names a cluster, so it needs --cluster (or SUBWIRE_CLUSTER, or cluster in the config file)`)
  }
  if (workers === undefined) return { cluster, workers: null }
  if (cluster === undefined) {
    throw new SubwireError('bad_option', `${written.workers} needs --cluster (or SUBWIRE_CLUSTER, or cluster in the config file): workers that do not share their state through Redis would split the clients into separate brokers`)
  }
  const n = workers as number
  const nodeId = typeof cluster === 'object' ? cluster.nodeId : undefined
  // Each worker is the node `<nodeId>-<n>`: that must still be a nodeId (at most 64 characters).
  if (typeof nodeId === 'string' && nodeId.length > MAX_WORKER_BASE) {
    throw new SubwireError('bad_option', `${written.cluster}: nodeId must be at most ${MAX_WORKER_BASE} characters with ${written.workers} (each worker is the node <nodeId>-<n>)`)
  }
  return { cluster, workers: n === 0 ? Math.min(MAX_WORKERS, availableParallelism()) : n }
}
