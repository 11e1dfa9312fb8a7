import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { BrokerSnapshot } from './ipc.ts'
import type { MeasuredWindow } from './orchestrator/measure.ts'
import type { Marks } from './orchestrator/process-set.ts'
import { brokerSideCores, clusterBusy, clusterCpuPerMillion, clusterPeakRss } from './orchestrator/cluster-measure.ts'
import { farShare } from './scenarios/cluster.ts'
import { keptPercent, meanOf } from './scenarios/cluster-single.ts'
import { everyConnectionHasOne } from './scenarios/flood-run.ts'
import { parseMachineBusy } from './orchestrator/proc-stat.ts'
import { renderSummary, spreadOf, summarizeRuns } from './summarize.ts'
import type { BenchReport } from './report.ts'
import { parseServeBanner } from './systems/subwire-serve.ts'
import { burstOf, creditOf, median } from './micro/redis-clients.ts'

function snapshot(t: number, cpuS: number, peakRss = 0): BrokerSnapshot {
  return { t, cpuUserUs: cpuS * 1e6, cpuSystemUs: 0, rss: 0, peakRssSinceMark: 0, peakRss, eventLoopP99Ms: 0, eventLoopMaxMs: 0 }
}

/** A 2 s window: node 0 spends `node0` CPU-s, the others theirs (from /proc, on the orchestrator's clock). */
function clusterWindow(node0: number, others: Array<{ name: string; cpuS: number; peakRss?: number }>): MeasuredWindow {
  const marks = (at: number, scale: number): Marks => ({
    at,
    brokerCpuSeconds: node0 * scale,
    broker: snapshot(at, node0 * scale, 10 << 20),
    subscribers: { t: at, counts: [], cpuUs: scale * 1.5e6 },
    publisher: { t: at, cpuUs: scale * 0.5e6, sent: 0, completed: 0, failed: 0 },
    others: others.map((o) => ({ name: o.name, cpuSeconds: o.cpuS * scale, broker: snapshot(at, o.cpuS * scale, o.peakRss ?? 0) })),
  })
  return { before: marks(1000, 0), after: marks(3000, 1) }
}

test('counts every broker-side process of a cluster window (both nodes and the shared redis-server) in its cost per message', () => {
  const w = clusterWindow(1.6, [{ name: 'node 1', cpuS: 1.0 }, { name: 'shared', cpuS: 0.4 }])
  assert.equal(brokerSideCores(w).map((p) => [p.name, Number(p.cores.toFixed(2))]), [['node 0', 0.8], ['node 1', 0.5], ['shared', 0.2]])
  // 1.5 cores at 1,000,000 deliveries/s: 1.5 CPU-s per million.
  assert.is(Number(clusterCpuPerMillion(w, 2_000_000, 2000)?.toFixed(3)), 1.5)
  assert.is(clusterCpuPerMillion(w, 0, 2000), null)
})

test('names the busiest of all processes, load generators included, and lists each one', () => {
  const busy = clusterBusy(clusterWindow(1.6, [{ name: 'node 1', cpuS: 1.0 }]))
  assert.is(busy.value, 0.8)
  assert.is(busy.note, 'node 0 0.80 · node 1 0.50 · subscribers 0.75 · publisher 0.25')
})

test('adds the cores the whole machine kept busy to the busiest-process note, from /proc/stat less idle and iowait', () => {
  // user nice system idle iowait irq softirq steal: 300 busy ticks of 1,000 at 100 ticks/s.
  assert.is(parseMachineBusy('cpu  100 0 150 600 100 30 20 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n', 100), 3)
  assert.is(parseMachineBusy('intr 1 2 3\n', 100), undefined)
  const w = clusterWindow(1.6, [{ name: 'node 1', cpuS: 1.0 }])
  const withMachine: MeasuredWindow = { before: { ...w.before, machineBusySeconds: 10 }, after: { ...w.after, machineBusySeconds: 13.9 } }
  assert.is(clusterBusy(withMachine).note, 'node 0 0.80 · node 1 0.50 · subscribers 0.75 · publisher 0.25 · machine 1.95')
})

test('adds the peak RSS of every broker-side process', () => {
  const rss = clusterPeakRss(clusterWindow(1, [{ name: 'node 1', cpuS: 1, peakRss: 20 << 20 }]))
  assert.is(rss.bytes, 30 << 20)
  assert.is(rss.note, 'node 0 10 · node 1 20')
})

test('refuses a window whose two marks list different processes', () => {
  const w = clusterWindow(1, [{ name: 'node 1', cpuS: 1 }])
  const broken: MeasuredWindow = { before: { ...w.before, others: [{ ...w.before.others![0]!, name: 'shared' }] }, after: w.after }
  assert.throws(() => brokerSideCores(broken))
})

test('compares per-subscriber deliveries on the far node (odd connections) with the near one', () => {
  assert.is(farShare([100, 50, 100, 50]), 50)
  assert.is(farShare([100]), null)
  assert.is(farShare([0, 10]), null)
})

test('settles a cluster only once every subscriber connection has had a message', () => {
  assert.ok(everyConnectionHasOne([1, 3, 2]))
  assert.not.ok(everyConnectionHasOne([1, 0, 2]))
  assert.not.ok(everyConnectionHasOne([]))
})

test('takes the mean of the runs that produced a figure, and the kept share of cluster on over off', () => {
  assert.is(meanOf([100, null, 300]), 200)
  assert.is(meanOf([null]), null)
  assert.is(keptPercent(90, 100), 90)
  assert.is(keptPercent(90, null), null)
})

function report(subwire: number | null, nats: number): BenchReport {
  return {
    meta: {},
    runs: [],
    rows: [
      { key: 'K.deliveries', label: 'K', unit: '/s', better: 'higher', values: { subwire, nats }, notes: {}, ratios: {} },
      { key: 'A.deliveries', label: 'A', unit: '/s', better: 'higher', values: { subwire: 1, nats: 1 }, notes: {}, ratios: {} },
    ],
  }
}

test('summarizes runs as median and spread, with subwire’s ratio taken within each run', () => {
  assert.equal(spreadOf([3, null, 1, 2]), { values: [3, null, 1, 2], median: 2, min: 1, max: 3 })
  assert.is(spreadOf([1, 4]).median, 2.5)
  const rows = summarizeRuns([report(300, 100), report(400, 400), report(null, 100)], 'K')
  assert.is(rows.length, 1)
  assert.equal(rows[0]?.systems.subwire?.values, [300, 400, null])
  assert.equal(rows[0]?.ratios.nats, { values: [3, 1, null], median: 2, min: 1, max: 3 })
  const table = renderSummary(rows).split('\n')
  assert.is(table[2], '| K [/s] | ↑ | 350 (300–400) | 100 (100–400) | 2.00× (1.00×–3.00×) |')
})

test('prints the notes of a row that holds nothing but notes, run after run', () => {
  const busy = (note: string): BenchReport => ({
    meta: {},
    runs: [],
    rows: [{ key: 'KW.busy', label: 'KW busy', unit: 'cores', better: 'info', values: { subwire: null }, notes: { subwire: note }, ratios: {} }],
  })
  const table = renderSummary(summarizeRuns([busy('node 0 0.9'), busy('node 0 0.8')])).split('\n')
  assert.is(table[2], '| KW busy [cores] |  | node 0 0.9; node 0 0.8 |')
})

test('the Redis client micro-bench reports the median of its runs', () => {
  assert.is(median([3, 1, 2]), 2)
  assert.is(median([4, 1, 2, 3]), 2.5)
  // 1 MiB in flight (4 bursts) whatever the payload, under redis-server's pubsub backlog bound.
  assert.is(burstOf(1024), 256)
  assert.is(burstOf(65536), 4)
  assert.is(burstOf(1 << 20), 1)
  // 4 MiB sent and not yet received, under redis-server's 8 MiB soft bound on a subscriber's backlog.
  assert.is(creditOf(1024), 4096)
  assert.is(creditOf(4 << 20), 2)
})

test('reads subwire serve’s URL, and with workers their pids, from its banner only once it is complete', () => {
  const listening = 'subwire broker listening on ws://127.0.0.1:4567/\n  cluster:  bench on redis://127.0.0.1:6379 as node n1\n'
  assert.equal(parseServeBanner(listening, undefined), { url: 'ws://127.0.0.1:4567/', workerPids: [] })
  assert.is(parseServeBanner(listening, 2), undefined)
  const workers = `${listening}  workers:  2 broker processes share the port (pids 101, 102; primary 100)\n`
  assert.equal(parseServeBanner(workers, 2), { url: 'ws://127.0.0.1:4567/', workerPids: [101, 102] })
  assert.is(parseServeBanner(workers, 3), undefined)
  assert.is(parseServeBanner('{"level":40,"msg":"starting"}\n', undefined), undefined)
})

test.run()
