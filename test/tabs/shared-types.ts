/**
 * Compile-time only (checked by `tsc --noEmit -p .`, never run): a shared client is typed by a subject schema
 * as a `Client` is (client/typed.ts). Each `@ts-expect-error` line must fail to compile, or tsc fails.
 */
import { connect } from '../../client/index.ts'

type Schema = { 'sensors.*.temp': { value: number }; 'price.quote': { req: { sku: string }; res: { total: number } } }

export async function typedSharedClient(url: string): Promise<number> {
  const c = await connect<Schema>(url, { shared: true })
  c.publish('sensors.paris.temp', { value: 21 })
  // @ts-expect-error a temperature is a number
  c.publish('sensors.paris.temp', { value: 'warm' })
  const r = await c.request('price.quote', { sku: 'x' })
  // @ts-expect-error the reply has no `price`
  void r.data.price
  for await (const m of c.subscribe('sensors.*.temp')) return m.data.value + r.data.total
  // @ts-expect-error a shared client has no reauthenticate (its worker refreshes tokens through the tabs)
  void c.reauthenticate
  return 0
}
