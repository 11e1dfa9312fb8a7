/**
 * Review of typed subjects (issue 16 §4): cases the specification in typed-subjects.ts did not cover, where the
 * types wrongly accepted what they refuse elsewhere. Compiled by test/types/types.test.ts (never run).
 */
import type { Client, Msg } from '../../client/index.ts'
import type { SharedClient } from '../../client/shared/tab-client.ts'

type Schema = {
  'sensors.*.temp': { value: number }
  'price.quote': { req: { sku: string }, res: { total: number } }
}

export async function publishAckNeedsItsData(c: Client<Schema>, s: SharedClient<Schema>): Promise<void> {
  // @ts-expect-error a typed subject needs its data, on publishAck as on publish and request
  await c.publishAck('sensors.paris.temp')
  // @ts-expect-error the same on a shared tab
  await s.publishAck('sensors.paris.temp')
  await c.publishAck('sensors.paris.temp', { value: 1 }, { msgId: 'x' })
  await c.publishAck('not.in.schema')
}

export function respondNeedsItsData(m: Msg<{ sku: string }, { total: number }>, plain: Msg): void {
  // @ts-expect-error a reply of price.quote is { total: number }: an empty respond() is not one
  m.respond()
  m.respond({ total: 1 })
  plain.respond()
}

export async function noSendingToAWildcard(c: Client<Schema>, strict: Client<Schema, { strict: true }>, city: string): Promise<void> {
  // A subject with `*` or `>` is a pattern: publish, request and publishAck refuse it at run time (bad_subject).
  // @ts-expect-error publishing to a pattern
  c.publish('sensors.*.temp', { value: 1 })
  // @ts-expect-error the same on a strict schema, where the pattern is an entry's own key
  strict.publish('sensors.*.temp', { value: 1 })
  // @ts-expect-error requesting on a pattern
  await c.request('price.*', { sku: 'x' })
  // @ts-expect-error a trailing >
  c.publish('logs.>', 'x')
  c.publish(`sensors.${city}.temp`, { value: 1 })
  c.publish('anything.else', 1)
}
