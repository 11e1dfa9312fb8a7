import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { within } from './helpers.ts'

test('the demo spreads requests over a worker pool that grows and shrinks, and publishes sensor readings into a last-value topic', async () => {
  const out = await within(40_000, new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', 'demo/run.ts'], {
      env: { ...process.env, DEMO_MS: '4500', DEMO_CHURN_MS: '1000', DEMO_PORT: '0', DEMO_WEB_PORT: '0' },
      timeout: 35_000,
    }, (err, stdout) => (err === null ? resolve(stdout) : reject(err)))
  }), 'the demo to finish')
  assert.match(out, /dashboard: {2}http:\/\/127\.0\.0\.1:\d+\//)
  assert.match(out, /monitor: {4}http:\/\/127\.0\.0\.1:\d+\//)
  assert.match(out, /fails at once: no_responders/)
  assert.match(out, /worker-4 joined/)
  const [, answered, failed, shares] = out.match(/(\d+) requests answered \((\d+) failed\); per worker: (.*)/) ?? []
  assert.ok(Number(answered) > 100, `answered ${answered}`)
  assert.is(failed, '0')
  assert.ok((shares ?? '').split(' / ').length >= 4, `every worker that joined answered some: ${shares}`)
  assert.not.match(shares ?? '', /\b0%/)
  const [, readings] = out.match(/(\d+) sensor readings published/) ?? []
  assert.ok(Number(readings) > 32 * 50, `readings ${readings}`)
  assert.match(out, /the sensors topic holds 32, the last of each sensor/)
})

test.run()
