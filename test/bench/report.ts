/**
 * The run's output: one row per figure, one column per system, and subwire's ratio to each baseline
 * (subwire ÷ baseline: above 1 is better for ↑ rows, below 1 is better for ↓ rows).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { SystemName } from './systems.ts'
import type { Metric } from './scenarios/types.ts'

/** Everything one system produced in the run. */
export interface SystemRun {
  readonly system: SystemName
  readonly metrics: Metric[]
  readonly errors: Array<{ readonly scenario: string; readonly message: string }>
  /** Scenarios that do not apply to this system (e.g. redis-streams outside J), with why. */
  readonly skippedScenarios: Array<{ readonly scenario: string; readonly reason: string }>
  skipped?: string
}

export interface ReportRow {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly better: Metric['better']
  readonly values: Partial<Record<SystemName, number | null>>
  readonly notes: Partial<Record<SystemName, string>>
  readonly ratios: {
    readonly vsNats?: number | null
    readonly vsRawWs?: number | null
    readonly vsSocketIo?: number | null
    readonly vsRedisStreams?: number | null
  }
}

/** The ratio field of each system subwire is compared with. */
const RATIO_FIELD = { nats: 'vsNats', 'raw-ws': 'vsRawWs', socketio: 'vsSocketIo', 'redis-streams': 'vsRedisStreams' } as const satisfies Record<Exclude<SystemName, 'subwire'>, keyof ReportRow['ratios']>

export interface BenchReport {
  readonly meta: Record<string, unknown>
  readonly rows: ReportRow[]
  readonly runs: SystemRun[]
}

/** Lines the systems' metrics up by key, in first-seen order. */
export function buildRows(runs: readonly SystemRun[]): ReportRow[] {
  const rows = new Map<string, ReportRow>()
  for (const run of runs) {
    for (const metric of run.metrics) {
      let row = rows.get(metric.key)
      if (row === undefined) {
        row = { key: metric.key, label: metric.label, unit: metric.unit, better: metric.better, values: {}, notes: {}, ratios: {} }
        rows.set(metric.key, row)
      }
      row.values[run.system] = metric.value
      if (metric.note !== undefined) row.notes[run.system] = metric.note
    }
  }
  return [...rows.values()].map((row) => ({
    ...row,
    // Informational rows (e.g. a share deviation near zero) have no meaningful ratio.
    ratios:
      row.better === 'info'
        ? {}
        : {
            vsNats: ratio(row.values.subwire, row.values.nats),
            vsRawWs: ratio(row.values.subwire, row.values['raw-ws']),
            vsSocketIo: ratio(row.values.subwire, row.values.socketio),
            vsRedisStreams: ratio(row.values.subwire, row.values['redis-streams']),
          },
  }))
}

function ratio(ours: number | null | undefined, theirs: number | null | undefined): number | null | undefined {
  if (ours === undefined || theirs === undefined) return undefined
  if (ours === null || theirs === null || theirs === 0) return null
  return ours / theirs
}

/** A fixed-width text table of `rows` for the systems that ran. */
export function renderTable(rows: readonly ReportRow[], systems: readonly SystemName[]): string {
  const showRatios = systems.includes('subwire')
  const others = systems.filter((s): s is Exclude<SystemName, 'subwire'> => s !== 'subwire')
  const ratioColumns = showRatios ? others.map((s) => `subwire/${s}`) : []
  const header = ['figure', '', ...systems, ...ratioColumns]
  const body = rows.map((row) => [
    row.unit === '' ? row.label : `${row.label} [${row.unit}]`,
    row.better === 'higher' ? '↑' : row.better === 'lower' ? '↓' : '',
    ...systems.map((system) => cell(row.values[system], row.notes[system])),
    ...(showRatios ? others.map((s) => ratioCell(row.ratios[RATIO_FIELD[s]])) : []),
  ])
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((line) => (line[c] ?? '').length)))
  const format = (line: readonly string[]): string =>
    line.map((text, c) => (c === 0 ? text.padEnd(widths[c] ?? 0) : text.padStart(widths[c] ?? 0))).join('  ')
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [format(header), rule, ...body.map(format)].join('\n')
}

function cell(value: number | null | undefined, note: string | undefined): string {
  const text = value === undefined ? '—' : value === null ? '' : formatNumber(value)
  if (note === undefined) return text
  return text === '' ? note : `${text} (${note})`
}

function ratioCell(value: number | null | undefined): string {
  if (value === undefined || value === null) return '—'
  return `${value.toFixed(2)}×`
}

/** Three significant digits for small figures, thousands separators for large ones. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1000) return String(value) // counts
  const magnitude = Math.abs(value)
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US')
  if (magnitude >= 100) return value.toFixed(0)
  if (magnitude >= 10) return value.toFixed(1)
  if (magnitude >= 1) return value.toFixed(2)
  return value === 0 ? '0' : value.toPrecision(3)
}

/** Writes the report as JSON, creating the results folder if needed. */
export async function writeReport(path: string, report: BenchReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`)
}
