/**
 * What the frame decoders deliver ops to (PROTOCOL §4–5), and the op-shape rules both of them apply.
 *
 * A frame is a batch of ops. In `subwire.v1` a binary frame is the concatenation of msgpack-encoded op
 * arrays (frame-decoder.ts); in `subwire.v1.json` a text frame is one JSON op array per line (json-frame.ts).
 * Both decoders call the same `OpSink`, so the broker and the client each handle one shape of op whatever the
 * subprotocol.
 */
import { ENCODING, type Encoding } from './protocol.ts'
import { SubwireError } from './errors.ts'
import type { WireValue } from './msgpack-reader.ts'

/** Receives decoded ops. Each side implements the ops it accepts and refuses the rest as `protocol`. */
export interface OpSink {
  onInfo(body: Record<string, WireValue>): void
  /** Returning false stops decoding after this op (the broker authenticates asynchronously). */
  onConnect(body: Record<string, WireValue>): boolean | void
  onAuth(body: Record<string, WireValue>): void
  /**
   * @param size payload bytes plus encoded header bytes, for the max-payload check
   * @param tail the PUB's encoded `subject … payload` bytes, which are exactly a MSG's tail (binary frames only)
   */
  /**
   * `size` is the payload's bytes plus the headers' encoded bytes. `payload` is null when the decoder left the
   * view to the sink: a binary PUB without headers, whose payload is the last `size` bytes of `tail`.
   */
  onPub(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, payload: Uint8Array | null, size: number, tail: Uint8Array | null): void
  /** `options` (PROTOCOL §8.3) asks for replay, acks and a slow-consumer policy; null for a plain subscription. */
  onSub(sid: number, subject: string, queue: string | null, options: Record<string, WireValue> | null): void
  onUnsub(sid: number, max: number | null): void
  /**
   * The payload is `frame[payloadStart, payloadEnd)`: a receiver that never reads it makes no view of it.
   * `seq`, `time` and `deliveryCount` are 0 unless the message came from a topic.
   */
  onMsg(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, frame: Uint8Array, payloadStart: number, payloadEnd: number, seq: number, time: number, deliveryCount: number): void
  onAck(sid: number, seq: number, kind: number, delayMs: number): void
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void
  /** `state`: what a client says of its page with a PING, `{ hidden }` (PROTOCOL §4.7); null without one. */
  onPing(state: Record<string, WireValue> | null): void
  onPong(): void
  onErr(code: string, message: string, ref: string | number | null): void
}

/** Limits a decoder enforces while it reads (the rest are the sink's business). */
export interface DecodeLimits {
  maxOpsPerFrame: number
  maxHeaders: number
}

/** The error a malformed op is refused with (code `protocol`). */
export function protocolError(message: string): SubwireError {
  return new SubwireError('protocol', message)
}

/** True for a map decoded from the wire (not an array, not bytes). */
export function isRecord(v: unknown): v is Record<string, WireValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** True for an encoding tag this protocol version knows. */
export function isEncoding(n: number): n is Encoding {
  return n === ENCODING.msgpack || n === ENCODING.raw || n === ENCODING.json
}

/** Minimum op-array lengths, indexed by op code. Longer arrays are accepted: extra fields are for later versions. */
export const MIN_FIELDS = [2, 2, 7, 3, 2, 7, 1, 1, 3, 2, 4, 4] as const // [op, …fields]: INFO CONNECT PUB SUB UNSUB MSG PING PONG ERR AUTH ACK EVENT
