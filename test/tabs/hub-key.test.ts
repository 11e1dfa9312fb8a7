/**
 * The shared worker's hub (client/shared/hub.ts) joins tabs that ask for the same servers and options to one
 * connection, whatever order their options' keys were written in (a config object spread in another order is
 * the same config).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../../client/index.ts'
import type { SharedClient } from '../../client/shared/tab-client.ts'
import { FakeWorkers } from './fake-worker.ts'
import type { Broker } from '../../server/index.ts'
import { startBroker, until, within } from '../helpers.ts'

const workers = new FakeWorkers()
let broker: Broker
const tabs: SharedClient[] = []

test.before.each(async () => {
  workers.install()
  broker = await startBroker()
})

test.after.each(async () => {
  for (const t of tabs.splice(0)) await within(3000, t.close(), 'a tab to close')
  workers.uninstall()
  await within(5000, broker.close(), 'the broker to close')
})

test('tabs whose options differ only in key order share one broker connection', async () => {
  const a = await within(5000, connect(broker.url, { name: 'tabs', shared: true, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } }), 'tab a')
  tabs.push(a)
  const b = await within(5000, connect(broker.url, { reconnect: { maxDelayMs: 1000, initialDelayMs: 100 }, shared: true, name: 'tabs' }), 'tab b')
  tabs.push(b)
  await a.flush()
  await b.flush()
  await until(3000, () => broker.stats().connections === 1, `one connection (${broker.stats().connections})`)
})

test('tabs with different options keep connections of their own', async () => {
  const a = await within(5000, connect(broker.url, { name: 'one', shared: true }), 'tab a')
  tabs.push(a)
  const b = await within(5000, connect(broker.url, { name: 'two', shared: true }), 'tab b')
  tabs.push(b)
  await a.flush()
  await b.flush()
  await until(3000, () => broker.stats().connections === 2, `two connections (${broker.stats().connections})`)
  assert.is(broker.stats().connections, 2)
})

test.run()
