/**
 * Command-line flags of `npm run bench`: --quick, --only A,B,..., --systems subwire,nats,raw-ws,socketio,redis-streams,
 * --verbose (copy the children's stderr), --out PATH, --durable-gib N (scenario J's stored volume).
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { SYSTEM_NAMES, isSystemName, type SystemName } from './systems.ts'
import { SCENARIO_IDS, type RunShape, type ScenarioId } from './scenarios/types.ts'

export interface BenchOptions {
  readonly shape: RunShape
  readonly only: readonly ScenarioId[]
  readonly systems: readonly SystemName[]
  readonly verbose: boolean
  readonly out: string
}

const FULL: RunShape = { quick: false, warmupMs: 1000, durationMs: 5000, idleCounts: [5000, 15_000], idleHoldMs: 2000 }
const QUICK: RunShape = { quick: true, warmupMs: 300, durationMs: 1200, idleCounts: [2000], idleHoldMs: 500 }
const DEFAULT_OUT = fileURLToPath(new URL('./results/latest.json', import.meta.url))

export const USAGE = `usage: npm run bench -- [--quick] [--only A,B,...] [--systems ${SYSTEM_NAMES.join(',')}] [--verbose] [--out FILE]
                        [--durable-gib N]
  scenarios: A fan-out 1→100, B 1→1, C queue group 1→4, D latency (100 + probe), D2 latency with the probe
             in the publisher's process subscribed last (99 + probe), E idle connections,
             F request/reply, G subject index, H topics (subwire only), I stalled subscriber,
             J durable topics (subwire file topics vs redis-streams; the only scenario redis-streams runs)
             cluster (issue 14; subwire, nats, socketio as two nodes): K cross-node fan-out 1→100, K1 1→1 across
             nodes, KQ queue group across nodes, KL cross-node latency (probe on node 1), KS one node with
             cluster off vs on (subwire only), KW subwire serve --workers 2 vs one process (subwire only)
  systems: nats is nats-server (BENCH_NATS_SERVER, default /usr/sbin/nats-server) over its websocket
           listener with nats.ws clients; it runs every scenario but H and J
  --durable-gib N: J stores N GiB of 128-byte payloads before its restart and replay (default 1,000,000
                   messages, about 0.12 GiB), e.g. 2 for the issue's RSS-at-2-GiB check (minutes, not seconds)`

/** Whether the arguments ask for the usage text. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h')
}

/** Parses the flags; throws with the usage text on an unknown flag or name. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      systems: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      out: { type: 'string' },
      'durable-gib': { type: 'string' },
    },
    strict: true,
  })
  const durableGib = parseGib(values['durable-gib'])
  const shape = values.quick ? QUICK : FULL
  return {
    shape: durableGib === undefined ? shape : { ...shape, durableGib },
    only: parseList(values.only?.toUpperCase(), SCENARIO_IDS, isScenarioId, 'scenario'),
    systems: parseList(values.systems, SYSTEM_NAMES, isSystemName, 'system'),
    verbose: values.verbose,
    out: values.out ?? DEFAULT_OUT,
  }
}

function parseList<T extends string>(raw: string | undefined, all: readonly T[], guard: (value: string) => value is T, what: string): T[] {
  if (raw === undefined) return [...all]
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
  for (const item of items) if (!guard(item)) throw new Error(`unknown ${what} "${item}"\n${USAGE}`)
  return items as T[]
}

function parseGib(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const gib = Number(raw)
  if (!Number.isFinite(gib) || gib <= 0 || gib > 64) throw new Error(`--durable-gib wants a number of GiB in (0, 64], got "${raw}"\n${USAGE}`)
  return gib
}

function isScenarioId(value: string): value is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(value)
}
