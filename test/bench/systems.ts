/**
 * What a benchmarked system must provide. The same scenario drivers (proc/*.ts) run against every system
 * through these two interfaces, so subwire and the baselines do exactly the same work per message.
 */

/** The systems the bench knows. `subwire` is the project; the other two are same-run baselines. */
export const SYSTEM_NAMES = ['subwire', 'raw-ws', 'socketio'] as const
export type SystemName = (typeof SYSTEM_NAMES)[number]

/** A running broker inside the broker child process. */
export interface BrokerHandle {
  /** What clients pass to {@link BenchSystem.connect}. Always a loopback address. */
  readonly url: string
  close(): Promise<void>
}

/** Options of one benchmark subscription. */
export interface SubscribeSpec {
  /** Queue group: each message goes to one member of the group. */
  readonly queue?: string
  /** Hand the payload to the handler (latency probes). Counting subscribers leave it undecoded. */
  readonly withData?: boolean
}

/** Called once per delivered message; `data` is set only when the subscription asked for it. */
export type DeliveryHandler = (data: Uint8Array | undefined) => void

/** One client connection of a system, as the scenario drivers use it. */
export interface BenchClient {
  /** Registers a subscription; it is in force at the broker once a following {@link flush} resolves. */
  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void
  /** Answers every request on `subject` with the request's own payload. */
  respondWithEcho(subject: string): void
  /** Fire-and-forget publish of raw bytes. */
  publish(subject: string, data: Uint8Array): void
  /** One request/reply round trip; rejects after `timeoutMs`. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>
  /** Resolves when the broker has processed everything sent before it (one round trip). */
  flush(): Promise<void>
  /** Bytes accepted by the client but not yet by the socket, or undefined if the system cannot tell. */
  pendingBytes(): number | undefined
  close(): Promise<void>
}

/** One benchmarked system: its broker (run in the broker child) and its client (run in the driver children). */
export interface BenchSystem {
  readonly name: SystemName
  startBroker(): Promise<BrokerHandle>
  connect(url: string, name: string): Promise<BenchClient>
}

/** Loads a system lazily, so that a run without subwire never imports the (possibly unfinished) broker. */
export async function loadSystem(name: SystemName): Promise<BenchSystem> {
  switch (name) {
    case 'subwire':
      return (await import('./systems/subwire.ts')).subwireSystem
    case 'raw-ws':
      return (await import('./systems/raw-ws/index.ts')).rawWsSystem
    case 'socketio':
      return (await import('./systems/socketio/index.ts')).socketIoSystem
    default:
      return assertNever(name)
  }
}

/** Type guard for a CLI-provided system name. */
export function isSystemName(value: string): value is SystemName {
  return (SYSTEM_NAMES as readonly string[]).includes(value)
}

function assertNever(value: never): never {
  throw new Error(`unknown system: ${String(value)}`)
}
