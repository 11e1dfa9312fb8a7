/**
 * subwire itself, driven through its public entry points only (`subwire/server`, `subwire/client`), as an
 * application would. This module is loaded only when the subwire system is selected (see loadSystem).
 */
import { createBroker } from 'subwire/server'
import { connect, type Client, type Msg, type SubscribeOptions } from 'subwire/client'
import type { BenchClient, BenchSystem, BrokerHandle, DeliveryHandler, SubscribeSpec } from '../systems.ts'

type Callback = NonNullable<SubscribeOptions['callback']>

/** Narrows a delivered payload: the bench only ever publishes raw bytes. */
function asBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  throw new Error(`subwire delivered ${typeof data} where raw bytes were published`)
}

/** Counting subscribers never touch msg.data, so subwire's lazy decode stays lazy for them. */
function deliveryCallback(spec: SubscribeSpec, onMessage: DeliveryHandler): Callback {
  if (spec.withData === true) {
    return (err, msg) => {
      if (err === null && msg !== null) onMessage(asBytes(msg.data))
    }
  }
  return (err) => {
    if (err === null) onMessage(undefined)
  }
}

function echo(err: unknown, msg: Msg | null): void {
  if (err === null && msg !== null) msg.respond(msg.data)
}

class SubwireBenchClient implements BenchClient {
  #client: Client

  constructor(client: Client) {
    this.#client = client
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    this.#client.subscribe(subject, { queue: spec.queue, callback: deliveryCallback(spec, onMessage) })
  }

  respondWithEcho(subject: string): void {
    this.#client.subscribe(subject, { callback: echo })
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

  pendingBytes(): number {
    return this.#client.pendingBytes
  }

  close(): Promise<void> {
    return this.#client.close()
  }
}

export const subwireSystem: BenchSystem = {
  name: 'subwire',
  async startBroker(): Promise<BrokerHandle> {
    // Every bench client comes from 127.0.0.1 and the idle scenario opens 15,000 at once: the per-address cap
    // and the admission rate are raised to fit (they stay on, as the performance issue asks).
    const broker = await createBroker({ port: 0, host: '127.0.0.1', maxConnectionsPerIp: 50_000, maxConnectsPerSecond: 100_000 })
    return { url: broker.url, close: () => broker.close() }
  },
  async connect(url: string, name: string): Promise<BenchClient> {
    return new SubwireBenchClient(await connect(url, { name }))
  },
}
