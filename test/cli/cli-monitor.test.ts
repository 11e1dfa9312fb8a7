/**
 * The monitoring credential on the command line (issue 17 §2): `subwire serve` takes a monitor token as a
 * flag, a variable or a config key, and `subwire stats` sends its token to `GET /stats` as Bearer.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadServeConfig, MONITOR_TOKEN_PERMISSIONS } from '../../server/cli/serve-config.ts'
import { runCli } from '../../server/cli/main.ts'
import type { CliIo } from '../../server/cli/io.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import type { BrokerOptions } from '../../server/options.ts'
import { SubwireError } from '../../shared/errors.ts'
import { cleanupAfterEach, startBroker, within } from '../helpers.ts'
import { memoryIo } from './memory-io.ts'

const track = cleanupAfterEach(test)
const dir = mkdtempSync(join(tmpdir(), 'subwire-monitor-cli-'))
let files = 0
function configFile(content: unknown): string {
  const file = join(dir, `config-${files++}.json`)
  writeFileSync(file, JSON.stringify(content))
  return file
}

const APP_AUTH = { tokens: [{ token: 'token-of-an-app', user: 'app', permissions: { subscribe: { allow: ['orders.>'] } } }] }
const MONITOR_TOKEN = 'a-monitor-token-for-tests'

function tokensOf(options: BrokerOptions): Array<{ token: string; user: string; permissions?: unknown }> {
  return options.auth?.tokens ?? []
}

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return err instanceof SubwireError ? err.code : String(err)
  }
  return 'no error'
}


test('serve takes a monitor token from --monitor-token, SUBWIRE_MONITOR_TOKEN or monitorToken, added beside the file auth', () => {
  const file = configFile({ auth: APP_AUTH })
  const fromFlag = loadServeConfig({ flags: { config: file, 'monitor-token': MONITOR_TOKEN }, env: {} })
  const fromEnv = loadServeConfig({ flags: { config: file }, env: { SUBWIRE_MONITOR_TOKEN: MONITOR_TOKEN } })
  const fromFile = loadServeConfig({ flags: { config: configFile({ auth: APP_AUTH, monitorToken: MONITOR_TOKEN }) }, env: {} })
  for (const [config, source] of [[fromFlag, 'flag'], [fromEnv, 'env'], [fromFile, 'file']] as const) {
    const tokens = tokensOf(config.broker)
    assert.equal(tokens.map((t) => t.user), ['app', 'monitor'], source)
    assert.is(tokens[1]?.token, MONITOR_TOKEN, source)
    assert.equal(tokens[1]?.permissions, MONITOR_TOKEN_PERMISSIONS, source)
    assert.is(config.sources.monitorToken, source)
  }
})

test('serve refuses a monitor token without auth for the other clients, or one that is too short, without echoing it', () => {
  assert.is(codeOf(() => loadServeConfig({ flags: { 'monitor-token': MONITOR_TOKEN }, env: {} })), 'bad_option')
  try {
    loadServeConfig({ flags: { config: configFile({ auth: APP_AUTH }) }, env: { SUBWIRE_MONITOR_TOKEN: 'short' } })
    assert.unreachable('a 5-character token is refused')
  } catch (err) {
    assert.is((err as SubwireError).code, 'bad_option')
    assert.not.match((err as Error).message, /short/, 'the secret is not echoed')
  }
})

test('serve refuses a config file whose permissions say monitor with something other than a boolean', () => {
  const file = configFile({ auth: { tokens: [{ token: 'token-of-ops', user: 'ops', permissions: { monitor: 'yes' } }] } })
  assert.is(codeOf(() => loadServeConfig({ flags: { config: file }, env: {} })), 'bad_option')
})

test('serve --print-config names the monitor token\'s source and never prints it', async () => {
  const m = memoryIo({ SUBWIRE_MONITOR_TOKEN: MONITOR_TOKEN })
  const code = await within(5000, runCli(['serve', '--print-config', '--config', configFile({ auth: APP_AUTH })], m.io), 'print-config')
  assert.is(code, 0)
  assert.match(m.out(), /"monitorToken": "env"/)
  assert.not.match(m.out(), new RegExp(MONITOR_TOKEN))
})

test('stats sends --token or SUBWIRE_TOKEN to /stats as Bearer, and says auth_failed or permission when refused', async () => {
  const b = track(await startBroker({ auth: { tokens: [...APP_AUTH.tokens, { token: MONITOR_TOKEN, user: 'monitor', permissions: { monitor: true } }] } }))
  track(attachMonitoring(b, { sysStats: { intervalMs: 50 } }))
  const withFlag = memoryIo()
  assert.is(await within(10_000, runCli(['stats', '--json', '--server', b.url, '--token', MONITOR_TOKEN], withFlag.io), 'stats --token'), 0, withFlag.err())
  assert.is(JSON.parse(withFlag.out()).server.id, b.serverId)
  const withEnv = memoryIo({ SUBWIRE_TOKEN: MONITOR_TOKEN })
  assert.is(await within(10_000, runCli(['stats', '--json', '--server', b.url, '--limit', '1'], withEnv.io), 'stats with SUBWIRE_TOKEN'), 0, withEnv.err())
  assert.equal(JSON.parse(withEnv.out()).connectionPage, { offset: 0, limit: 1, total: 0 })
  const without = memoryIo()
  assert.is(await within(10_000, runCli(['stats', '--server', b.url], without.io), 'stats without a token'), 1)
  assert.match(without.err(), /auth_failed/)
  const app = memoryIo()
  assert.is(await within(10_000, runCli(['stats', '--server', b.url, '--token', 'token-of-an-app'], app.io), 'stats with an app token'), 1)
  assert.match(app.err(), /permission/)
})

test.run()
