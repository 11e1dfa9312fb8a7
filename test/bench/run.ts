/**
 * `npm run bench`: runs every selected scenario against every selected system, each in its own set of
 * processes (broker, subscribers, publisher), prints one progress line per step to stderr, then the
 * comparison table to stdout and the same figures as JSON to test/bench/results/latest.json.
 * See test/bench/README.md for what each figure means.
 */
import { compileChildren } from './orchestrator/compile.ts'
import { existsSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { USAGE, parseOptions, wantsHelp, type BenchOptions } from './cli-options.ts'
import { ProcessSet } from './orchestrator/process-set.ts'
import { SCENARIOS } from './scenarios/index.ts'
import type { Metric, Scenario, ScenarioContext } from './scenarios/types.ts'
import { PUBSUB_SYSTEMS, type SystemName } from './systems.ts'
import { natsServerMissing } from './systems/nats/server.ts'
import { redisServerMissing } from './systems/redis-streams/server.ts'
import { buildRows, formatNumber, renderTable, writeReport, type SystemRun } from './report.ts'

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const runStarted = performance.now()

function log(text: string): void {
  const seconds = ((performance.now() - runStarted) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[${seconds}s] ${text}\n`)
}

/** Why subwire cannot run yet, or undefined when its entry points exist. */
function subwireMissing(): string | undefined {
  const missing = ['server/index.ts', 'client/index.ts'].filter((file) => !existsSync(`${PROJECT_ROOT}${file}`))
  return missing.length === 0 ? undefined : `skipped: ${missing.join(' and ')} not present yet`
}

function contextFor(run: SystemRun, options: BenchOptions): ScenarioContext {
  const system = run.system
  return {
    system,
    earlier: (key) => run.metrics.find((metric) => metric.key === key)?.value,
    shape: options.shape,
    log: (text) => log(`  ${system}: ${text}`),
    start: (spec) => ProcessSet.start({ ...spec, system }, options.verbose),
    startBroker: (spec) => ProcessSet.startBroker({ ...spec, system }, options.verbose),
  }
}

function headline(metrics: readonly Metric[]): string {
  const first = metrics[0]
  if (first === undefined) return 'no figures'
  const value = first.value === null ? (first.note ?? 'n/a') : `${formatNumber(first.value)} ${first.unit}`
  return `${first.label} = ${value}`
}

/** Why `scenario` does not run on `system`, or undefined when it does. */
function notApplicable(scenario: Scenario, system: SystemName): string | undefined {
  if ((scenario.systems ?? PUBSUB_SYSTEMS).has(system)) return undefined
  const note = scenario.skipNote?.(system)
  if (note !== undefined) return note
  if (system === 'redis-streams') return 'no pub/sub: redis-streams runs only J'
  if (system === 'nats') return `not supported: ${scenario.id} needs durable topics, and the nats baseline is core NATS (no JetStream)`
  return `${scenario.id} does not apply to ${system}`
}

async function runScenario(scenario: Scenario, run: SystemRun, options: BenchOptions): Promise<void> {
  const skip = notApplicable(scenario, run.system)
  if (skip !== undefined) {
    run.skippedScenarios.push({ scenario: scenario.id, reason: skip })
    log(`${scenario.id} · ${run.system}: skipped (${skip})`)
    return
  }
  const started = performance.now()
  log(`${scenario.id} ${scenario.title} · ${run.system} …`)
  try {
    const metrics = await scenario.run(contextFor(run, options))
    run.metrics.push(...metrics)
    log(`${scenario.id} · ${run.system}: ${headline(metrics)} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    run.errors.push({ scenario: scenario.id, message })
    log(`${scenario.id} · ${run.system}: FAILED: ${message.split('\n')[0] ?? ''}`)
  }
}

async function main(): Promise<void> {
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  let options: BenchOptions
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 2
    return
  }
  const loadAtStart = loadavg()
  const runs: SystemRun[] = options.systems.map((system) => ({ system, metrics: [], errors: [], skippedScenarios: [] }))
  const selected = SCENARIOS.filter((s) => options.only.includes(s.id))
  for (const run of runs) {
    if (run.system === 'subwire') run.skipped = subwireMissing()
    if (run.system === 'redis-streams' || run.system === 'nats') {
      const missing = run.system === 'nats' ? natsServerMissing() : redisServerMissing()
      if (missing !== undefined) run.skipped = `skipped: ${missing}`
    }
    // A system none of the selected scenarios runs on gets no column (e.g. redis-streams without J).
    if (selected.every((s) => notApplicable(s, run.system) !== undefined)) run.skipped ??= `skipped: runs none of the selected scenarios (${options.only.join(',')})`
    if (run.skipped !== undefined) log(`${run.system}: ${run.skipped}`)
  }
  const active = runs.filter((run) => run.skipped === undefined)
  log(`bench ${options.shape.quick ? 'quick' : 'full'}: scenarios ${options.only.join(',')} · systems ${active.map((r) => r.system).join(',')}`)

  log('compiling the child processes')
  await compileChildren()

  // Scenario-major order: the systems are measured close together in time, on the same machine state.
  for (const scenario of selected) {
    for (const run of active) await runScenario(scenario, run, options)
  }

  const rows = buildRows(runs)
  const elapsedS = (performance.now() - runStarted) / 1000
  await writeReport(options.out, {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      quick: options.shape.quick,
      shape: options.shape,
      scenarios: options.only,
      systems: options.systems,
      elapsedS,
      // 1, 5 and 15 minute load averages: other programs on the machine move every figure.
      loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    },
    rows,
    runs,
  })
  process.stdout.write(`\n${renderTable(rows, active.map((r) => r.system))}\n`)
  for (const run of runs) for (const error of run.errors) process.stdout.write(`\n${run.system} ${error.scenario} failed:\n${error.message}\n`)
  for (const run of runs) if (run.skipped !== undefined) process.stdout.write(`\n${run.system}: ${run.skipped}\n`)
  log(`done in ${elapsedS.toFixed(1)} s; JSON: ${options.out}`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
