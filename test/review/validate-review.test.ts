/**
 * Review of the `validate` hook (issue 16 §4): cases where data reached the application without passing it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client, type Status } from '../../client/index.ts'
import { cleanupAfterEach, sleep, startBroker, until, within } from '../helpers.ts'

const track = cleanupAfterEach(test)

function recordStatus(c: Client): Status[] {
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  return seen
}

test('an async validator (it returns a promise) refuses the data it cannot check, and no rejection goes unhandled', async () => {
  // An `async` function fits `validate`'s type (a function returning void), as does zod's parseAsync, but its
  // throw becomes a rejected promise that nobody waits for: the data went through, the rejection went unhandled.
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  try {
    const b = track(await startBroker())
    const c = track(await connect(b.url, { validate: async (_subject, data) => { if (data !== 'ok') throw new Error('refused') } }))
    const seen = recordStatus(c)
    const pub = track(await connect(b.url))
    const sub = c.subscribe('v.>')
    pub.subscribe('v.svc', { callback: (_e, m) => { m?.respond('not ok') } })
    await within(2000, c.flush(), 'the SUB')
    await within(2000, pub.flush(), 'the responder')
    pub.publish('v.x', 'not ok')
    pub.publish('v.done', 'ok')
    const reply = await within(3000, c.request('v.svc', 1, { timeout: 2000 }).then(() => 'answered', (e: { code?: string }) => e.code ?? 'thrown'), 'the request')
    await within(2000, c.flush(), 'the messages to arrive')
    await until(2000, () => seen.filter((s) => s.type === 'invalid').length >= 3, 'an invalid status for each of the three')
    await sleep(20) // a rejection is reported as unhandled after the microtasks of its turn
    assert.equal(unhandled.map((e) => (e as Error).message), [], 'rejections nobody handled')
    assert.is(sub.pending, 0, 'data validate could not check is not delivered')
    assert.is(reply, 'bad_payload', 'a reply validate could not check rejects the request')
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test.run()
