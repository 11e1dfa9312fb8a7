import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { buildRows, renderTable, type SystemRun } from './report.ts'
import type { Metric } from './scenarios/types.ts'

function run(system: SystemRun['system'], metrics: Metric[]): SystemRun {
  return { system, metrics, errors: [], skippedScenarios: [] }
}

function rate(value: number | null): Metric {
  return { key: 'B.rate', label: 'B 1→1: msg/s', unit: '/s', value, better: 'higher' }
}

test('gives every row subwire’s ratio to nats-server beside its ratios to the other baselines', () => {
  const rows = buildRows([run('subwire', [rate(2_000_000)]), run('nats', [rate(800_000)]), run('raw-ws', [rate(1_000_000)])])
  assert.is(rows.length, 1)
  assert.is(rows[0]?.ratios.vsNats, 2.5)
  assert.is(rows[0]?.ratios.vsRawWs, 2)
  assert.is(rows[0]?.ratios.vsSocketIo, undefined)
})

test('leaves the nats ratio empty where nats-server has no figure, and out of informational rows', () => {
  const info: Metric = { key: 'B.busy', label: 'B busiest', unit: 'cores', value: 1, better: 'info' }
  const rows = buildRows([run('subwire', [rate(2_000_000), info]), run('nats', [rate(null), { ...info, value: 0.5 }])])
  assert.is(rows[0]?.ratios.vsNats, null)
  assert.equal(rows[1]?.ratios, {})
})

test('prints a subwire/nats column for a run with nats-server in it', () => {
  const rows = buildRows([run('subwire', [rate(2_000_000)]), run('nats', [rate(800_000)])])
  const [header, , line] = renderTable(rows, ['subwire', 'nats']).split('\n')
  assert.ok(header?.includes('subwire/nats'))
  assert.ok(line?.trimEnd().endsWith('2.50×'))
})

test.run()
