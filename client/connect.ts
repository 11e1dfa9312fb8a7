/** The entry point: `connect()` makes a `Client` and waits for its first connection. */
import type { ConnectOptions, SharedConnectOptions, SharedOptions } from './options.ts'
import type { SharedClient } from './shared/tab-client.ts'
import { Client } from './client.ts'
import type { SchemaOptions, Untyped } from './typed.ts'

/**
 * Connects to a subwire broker. With several URLs, each is tried in turn; later reconnects rotate through them.
 * `S` is an optional subject schema, `O` its options (`{ strict: true }`): see client/typed.ts.
 * @throws SubwireError the last error seen (`connection_refused`, `auth_failed`, `timeout`, …) if none accepts
 * @example
 * const c = await connect('ws://127.0.0.1:4480/', { name: 'orders-service' })
 */
export function connect<S extends object = Untyped, O extends SchemaOptions = {}>(servers: string | string[], options?: ConnectOptions): Promise<Client<S, O>>
export function connect<S extends object = Untyped, O extends SchemaOptions = {}>(servers: string | string[], options: SharedConnectOptions & { shared: true | SharedOptions }): Promise<SharedClient<S, O>>
export function connect<S extends object = Untyped, O extends SchemaOptions = {}>(servers: string | string[], options: SharedConnectOptions): Promise<Client<S, O> | SharedClient<S, O>>
export async function connect<S extends object = Untyped, O extends SchemaOptions = {}>(servers: string | string[], options: ConnectOptions | SharedConnectOptions = {}): Promise<Client<S, O> | SharedClient<S, O>> {
  // Imported only when asked for, so the SharedWorker code stays out of bundles that never share (a chunk of its
  // own). Its client is untyped at run time, like every client: the schema is the compiler's alone.
  if (options.shared !== undefined && options.shared !== false) return (await import('./shared/connect-shared.ts')).connectShared(servers, options as SharedConnectOptions) as Promise<unknown> as Promise<SharedClient<S, O>>
  const client = new Client<S, O>(servers, options as ConnectOptions)
  await client.start()
  return client
}
