/** The entry point: `connect()` makes a `Client` and waits for its first connection. */
import type { ConnectOptions } from './options.ts'
import { Client } from './client.ts'
import type { SchemaOptions, Untyped } from './typed.ts'

/**
 * Connects to a subwire broker. With several URLs, each is tried in turn; later reconnects rotate through them.
 * `S` is an optional subject schema, `O` its options (`{ strict: true }`): see client/typed.ts.
 * @throws SubwireError the last error seen (`connection_refused`, `auth_failed`, `timeout`, …) if none accepts
 * @example
 * const c = await connect('ws://127.0.0.1:4480/', { name: 'orders-service' })
 */
export async function connect<S extends object = Untyped, O extends SchemaOptions = {}>(servers: string | string[], options: ConnectOptions = {}): Promise<Client<S, O>> {
  const client = new Client<S, O>(servers, options)
  await client.start()
  return client
}
