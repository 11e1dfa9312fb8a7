import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { within } from './helpers.ts'

test('the demo answers requests across all three workers and feeds the wildcard subscriber', async () => {
  const out = await within(30_000, new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', 'demo/run.ts'], { env: { ...process.env, DEMO_MS: '1500' }, timeout: 25_000 },
      (err, stdout) => (err === null ? resolve(stdout) : reject(err)))
  }), 'the demo to finish')
  assert.match(out, /fails at once: no_responders/)
  const [, answered, shares] = out.match(/(\d+) requests answered; per worker: (.*)/) ?? []
  assert.ok(Number(answered) > 10, `answered ${answered}`)
  assert.is(shares.split('/').length, 3)
  assert.not.match(shares, /\b0%/)
  assert.match(out, /[1-9]\d* temperature readings/)
})

test.run()
