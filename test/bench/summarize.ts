/**
 * Several runs' JSON side by side: per figure, each system's median and spread (min–max) over the runs, and
 * subwire's ratio to each baseline the same way (each run's own ratio: systems are compared within a run).
 *
 *   node --conditions=source --import tsx test/bench/summarize.ts [--prefix K] run1.json run2.json run3.json
 *
 * Prints a Markdown table (for notes and README). `--prefix K` keeps rows whose key starts with `K`.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { formatNumber, type BenchReport, type ReportRow } from './report.ts'
import type { SystemName } from './systems.ts'

/** A figure over several runs: its values in run order (null: no figure in that run). */
export interface Spread {
  readonly values: ReadonlyArray<number | null>
  readonly median: number | null
  readonly min: number | null
  readonly max: number | null
}

export interface SummaryRow {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly better: ReportRow['better']
  readonly systems: Partial<Record<SystemName, Spread>>
  /** subwire ÷ baseline, per run, for every baseline with a figure. */
  readonly ratios: Partial<Record<SystemName, Spread>>
  /** Each system's notes in run order, for the rows that hold nothing but a note (which process was busy). */
  readonly notes: Partial<Record<SystemName, string[]>>
}

/** Median, min and max of the figures that exist. */
export function spreadOf(values: ReadonlyArray<number | null | undefined>): Spread {
  const kept = values.map((v) => (v === undefined ? null : v))
  const present = kept.filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (present.length === 0) return { values: kept, median: null, min: null, max: null }
  const mid = Math.floor(present.length / 2)
  const median = present.length % 2 === 1 ? present[mid]! : (present[mid - 1]! + present[mid]!) / 2
  return { values: kept, median, min: present[0]!, max: present[present.length - 1]! }
}

/** The runs' rows lined up by key (first-seen order), keeping keys that start with `prefix`. */
export function summarizeRuns(reports: readonly BenchReport[], prefix = ''): SummaryRow[] {
  const first = new Map<string, ReportRow>()
  for (const report of reports) for (const row of report.rows) if (row.key.startsWith(prefix) && !first.has(row.key)) first.set(row.key, row)
  const systems = new Set<SystemName>()
  for (const report of reports) for (const row of report.rows) for (const s of Object.keys(row.values) as SystemName[]) systems.add(s)
  return [...first.values()].map((row) => {
    const per = (system: SystemName): Array<number | null | undefined> => reports.map((r) => r.rows.find((x) => x.key === row.key)?.values[system])
    const summary: SummaryRow = { key: row.key, label: row.label, unit: row.unit, better: row.better, systems: {}, ratios: {}, notes: {} }
    for (const system of systems) {
      const notes = reports.flatMap((r) => r.rows.find((x) => x.key === row.key)?.notes[system] ?? [])
      if (notes.length > 0) summary.notes[system] = notes
      const values = per(system)
      if (values.every((v) => v === undefined)) continue
      summary.systems[system] = spreadOf(values)
      if (system === 'subwire' || row.better === 'info') continue
      const ours = per('subwire')
      const ratios = values.map((theirs, i) => {
        const mine = ours[i]
        return mine === undefined || mine === null || theirs === undefined || theirs === null || theirs === 0 ? null : mine / theirs
      })
      if (ratios.some((r) => r !== null)) summary.ratios[system] = spreadOf(ratios)
    }
    return summary
  })
}

function spreadCell(s: Spread | undefined, format: (v: number) => string): string {
  if (s === undefined || s.median === null || s.min === null || s.max === null) return '—'
  return s.values.length === 1 || s.min === s.max ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`
}

/** A Markdown table: median (min–max) per system, then subwire ÷ each baseline. */
export function renderSummary(rows: readonly SummaryRow[]): string {
  const systems = [...new Set(rows.flatMap((r) => Object.keys(r.systems) as SystemName[]))]
  const baselines = systems.filter((s) => s !== 'subwire')
  const header = ['figure', '', ...systems, ...baselines.map((s) => `subwire/${s}`)]
  const ratio = (v: number): string => `${v.toFixed(2)}×`
  const lines = rows.map((row) => [
    row.unit === '' ? row.label : `${row.label} [${row.unit}]`,
    row.better === 'higher' ? '↑' : row.better === 'lower' ? '↓' : '',
    ...systems.map((s) => (row.systems[s]?.median === null && row.notes[s] !== undefined ? row.notes[s].join('; ') : spreadCell(row.systems[s], formatNumber))),
    ...baselines.map((s) => spreadCell(row.ratios[s], ratio)),
  ])
  const out = [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`)
  return out.join('\n')
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { prefix: { type: 'string' } }, allowPositionals: true })
  if (positionals.length === 0) throw new Error('usage: summarize.ts [--prefix K] run1.json [run2.json …]')
  const reports = await Promise.all(positionals.map(async (file) => JSON.parse(await readFile(file, 'utf8')) as BenchReport))
  process.stdout.write(`${renderSummary(summarizeRuns(reports, values.prefix ?? ''))}\n`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
