/**
 * subwire itself, driven through its public entry points `subwire/server` and `subwire/client`.
 *
 * The modules are imported by name at run time and checked against the small contract below instead of
 * being imported statically: the broker and client are being written alongside this bench, `tsc` resolves
 * the package's types from `dist/` (absent before a build), and a run of the baselines alone must not load
 * them at all. A drift from the contract fails loudly here, at load.
 */
import type { BenchClient, BenchSystem, BrokerHandle, DeliveryHandler, SubscribeSpec } from '../systems.ts'

/** The part of a delivered message the bench uses. */
interface SubwireMsg {
  readonly data: unknown
  respond(data?: unknown): void
}

type SubwireCallback = (err: unknown, msg: SubwireMsg) => void

/** The part of the client the bench uses (the agreed contract). */
interface SubwireClient {
  publish(subject: string, data?: unknown, options?: { reply?: string }): void
  subscribe(subject: string, options: { queue?: string; callback?: SubwireCallback }): unknown
  request(subject: string, data: unknown, options: { timeout: number }): Promise<SubwireMsg>
  flush(): Promise<void>
  close(): Promise<void>
  readonly pendingBytes?: number
}

interface SubwireClientModule {
  connect(url: string, options: { name?: string }): Promise<SubwireClient>
}

interface SubwireServerModule {
  createBroker(options: { port: number; host: string }): Promise<{ readonly url: string; close(): Promise<void> }>
}

// Held in variables so that the imports stay dynamic and untyped until checked (see the file comment).
const SERVER_ENTRY = 'subwire/server'
const CLIENT_ENTRY = 'subwire/client'

async function loadServer(): Promise<SubwireServerModule> {
  const mod: unknown = await import(SERVER_ENTRY)
  if (!hasFunction(mod, 'createBroker')) throw new Error(`${SERVER_ENTRY} does not export createBroker()`)
  return mod as SubwireServerModule
}

async function loadClient(): Promise<SubwireClientModule> {
  const mod: unknown = await import(CLIENT_ENTRY)
  if (!hasFunction(mod, 'connect')) throw new Error(`${CLIENT_ENTRY} does not export connect()`)
  return mod as SubwireClientModule
}

function hasFunction(mod: unknown, name: string): boolean {
  return typeof mod === 'object' && mod !== null && typeof (mod as Record<string, unknown>)[name] === 'function'
}

/** Narrows a delivered payload: the bench only ever publishes raw bytes. */
function asBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  throw new Error(`subwire delivered ${typeof data} where raw bytes were published`)
}

class SubwireBenchClient implements BenchClient {
  #client: SubwireClient

  constructor(client: SubwireClient) {
    this.#client = client
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    // Counting subscribers never touch msg.data, so subwire's lazy decode is left lazy.
    const callback: SubwireCallback = spec.withData
      ? (err, msg) => {
          if (err === null || err === undefined) onMessage(asBytes(msg.data))
        }
      : (err) => {
          if (err === null || err === undefined) onMessage(undefined)
        }
    this.#client.subscribe(subject, { queue: spec.queue, callback })
  }

  respondWithEcho(subject: string): void {
    this.#client.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null || err === undefined) msg.respond(msg.data)
      },
    })
  }

  publish(subject: string, data: Uint8Array): void {
    this.#client.publish(subject, data)
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const reply = await this.#client.request(subject, data, { timeout: timeoutMs })
    return asBytes(reply.data)
  }

  flush(): Promise<void> {
    return this.#client.flush()
  }

  pendingBytes(): number | undefined {
    const pending = this.#client.pendingBytes
    return typeof pending === 'number' ? pending : undefined
  }

  close(): Promise<void> {
    return this.#client.close()
  }
}

export const subwireSystem: BenchSystem = {
  name: 'subwire',
  async startBroker(): Promise<BrokerHandle> {
    const { createBroker } = await loadServer()
    const broker = await createBroker({ port: 0, host: '127.0.0.1' })
    return { url: broker.url, close: () => broker.close() }
  },
  async connect(url: string, name: string): Promise<BenchClient> {
    const { connect } = await loadClient()
    return new SubwireBenchClient(await connect(url, { name }))
  },
}
