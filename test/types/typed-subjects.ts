/**
 * Compile-time specification of typed subjects (client/typed.ts). Never run: test/types/types.test.ts compiles
 * it with `tsc` and fails on any error, so each `@ts-expect-error` line must really be an error and every
 * other line must compile. (The root `tsc --noEmit -p .` of CI compiles it too.)
 */
import { connect, type Client, type Msg, type Subscription, type Untyped } from '../../client/index.ts'

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<A, B>(_equal: Equal<A, B>): void {}

declare const url: string
declare const city: string
declare const anySubject: string

// The issue's example, as written.
type Schema = { 'sensors.*.temp': { value: number }, 'price.quote': { req: { sku: string }, res: { total: number } } }

export async function issueExample(): Promise<void> {
  const c = await connect<Schema>(url)
  c.publish('sensors.paris.temp', { value: 21 }) // checked at compile time
  for await (const m of c.subscribe('sensors.*.temp')) expectType<typeof m.data.value, number>(true)
  const r = await c.request('price.quote', { sku: 'x' }); expectType<typeof r.data.total, number>(true)
}

export async function publishIsChecked(c: Client<Schema>): Promise<void> {
  // @ts-expect-error the payload of sensors.*.temp has a number value
  c.publish('sensors.paris.temp', { value: 'hot' })
  // @ts-expect-error a typed subject needs its data
  c.publish('sensors.paris.temp')
  // @ts-expect-error an extra property is refused as in any object literal
  c.publish('sensors.paris.temp', { value: 1, unit: 'C' })
  c.publish('sensors.paris.temp', { value: 1 }, { headers: { trace: 'x' } })
  // `*` is one token: sensors.a.b.temp matches no entry, so (not strict) its data is unknown.
  c.publish('sensors.a.b.temp', 'anything')
  // A template literal's ${string} stands for one token.
  c.publish(`sensors.${city}.temp`, { value: 2 })
  // @ts-expect-error and is checked like a literal
  c.publish(`sensors.${city}.temp`, { value: '2' })
  // A plain string subject cannot be matched: unknown data.
  c.publish(anySubject, Symbol('anything'))
  // The request side of a request/reply entry is what a plain publish sends too.
  c.publish('price.quote', { sku: 'y' })
  // @ts-expect-error price.quote takes req ({ sku: string })
  c.publish('price.quote', { total: 1 })
}

export async function requestIsChecked(c: Client<Schema>): Promise<void> {
  // @ts-expect-error sku is a string
  await c.request('price.quote', { sku: 1 })
  const r = await c.request('price.quote', { sku: 'x' }, { timeout: 100 })
  // @ts-expect-error total is a number
  const s: string = r.data.total
  void s
  const other = await c.request('time.now')
  expectType<typeof other, Msg<unknown>>(true)
  const ack = await c.publishAck('sensors.lyon.temp', { value: 3 })
  expectType<typeof ack.seq, number>(true)
  // @ts-expect-error publishAck data is checked like publish
  await c.publishAck('sensors.lyon.temp', { value: null })
}

export function subscribeIsTyped(c: Client<Schema>): void {
  const temps = c.subscribe('sensors.*.temp')
  expectType<typeof temps, Subscription<{ value: number }, unknown>>(true)
  // A responder sees req and answers with res.
  c.subscribe('price.quote', {
    queue: 'pricers',
    callback: (err, m) => {
      if (err !== null || m === null) return
      expectType<typeof m.data, { sku: string }>(true)
      m.respond({ total: m.data.sku.length })
      // @ts-expect-error the reply is res ({ total: number })
      m.respond({ total: 'free' })
    },
  })
  // A pattern matching no entry: unknown data, as without a schema.
  const logs = c.subscribe('logs.>')
  expectType<typeof logs, Subscription<unknown, unknown>>(true)
  // @ts-expect-error unknown data cannot be used unchecked
  c.subscribe('logs.>', { callback: (_e, m) => m?.data.level })
}

type Wide = {
  'sensors.*.temp': { value: number }
  'sensors.paris.hum': { humidity: number }
  'logs.>': string
  'price.quote': { req: { sku: string }, res: { total: number } }
  'price.tax': { req: { country: string }, res: { rate: number } }
}

export function wildcardsGiveUnions(c: Client<Wide>): void {
  const sensors = c.subscribe('sensors.>')
  expectType<typeof sensors, Subscription<{ value: number } | { humidity: number }, unknown>>(true)
  const paris = c.subscribe('sensors.paris.*')
  expectType<typeof paris, Subscription<{ value: number } | { humidity: number }, unknown>>(true)
  const lyon = c.subscribe('sensors.lyon.*')
  expectType<typeof lyon, Subscription<{ value: number }, unknown>>(true)
  const prices = c.subscribe('price.*')
  expectType<typeof prices, Subscription<{ sku: string } | { country: string }, { total: number } | { rate: number }>>(true)
  const all = c.subscribe('>')
  expectType<typeof all, Subscription<{ value: number } | { humidity: number } | string | { sku: string } | { country: string }, { total: number } | { rate: number }>>(true)
  // `>` in the schema is one or more tokens.
  c.publish('logs.app.error', 'disk full')
  // @ts-expect-error logs.> is a string
  c.publish('logs.app', 42)
  c.publish('logs', 42) // `>` needs at least one token: logs itself matches no entry
}

type Overlapping = { 'orders.*': { id: string }, 'orders.eu': { id: string; vat: number } }

export function sendingSatisfiesEveryMatchingEntry(c: Client<Overlapping>): void {
  c.publish('orders.eu', { id: 'a', vat: 20 })
  // @ts-expect-error orders.eu matches both entries: a subscriber of orders.eu expects vat
  c.publish('orders.eu', { id: 'a' })
  c.publish('orders.us', { id: 'b' })
  const eu = c.subscribe('orders.eu')
  expectType<typeof eu, Subscription<{ id: string } | { id: string; vat: number }, unknown>>(true)
}

export async function strictSchemas(): Promise<void> {
  const c = await connect<Schema, { strict: true }>(url)
  c.publish('sensors.paris.temp', { value: 21 })
  // @ts-expect-error a strict schema has no entry for this subject
  c.publish('weather.paris', { value: 21 })
  // @ts-expect-error nor for this pattern
  c.subscribe('weather.>')
  c.subscribe('sensors.>')
  c.subscribe('>')
  // @ts-expect-error a plain string cannot be checked against a strict schema
  c.publish(anySubject, { value: 1 })
  // @ts-expect-error nor requested
  await c.request('time.now')
  c.publish(`sensors.${city}.temp`, { value: 1 })
}

export async function withoutSchemaNothingChanges(): Promise<void> {
  const c = await connect(url, { name: 'plain' })
  expectType<typeof c, Client>(true)
  expectType<typeof c, Client<Untyped>>(true)
  c.publish('any.subject', { what: 'ever' })
  c.publish('any.subject')
  c.publish(anySubject, new Uint8Array(1), { reply: 'r' })
  const sub: Subscription = c.subscribe('a.>', { queue: 'q' })
  for await (const m of sub) {
    expectType<typeof m, Msg>(true)
    expectType<typeof m.data, unknown>(true)
    m.respond('anything')
  }
  const r: Msg = await c.request('svc', 1, { timeout: 10 })
  expectType<typeof r.data, unknown>(true)
  c.subscribe(anySubject, { callback: (_err: unknown, m: Msg | null) => { void m } })
}

export function aTypedClientIsAClient(c: Client<Schema>, strict: Client<Schema, { strict: true }>): Client {
  void strict
  return c
}
