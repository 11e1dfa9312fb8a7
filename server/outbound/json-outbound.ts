/**
 * The outbound queue of a `subwire.v1.json` connection: text frames, one JSON op per line. JSON is for tools
 * and debugging, not the fast path, so it keeps lines and joins them per frame.
 */
import { jsonMsgTail, jsonOp } from '../../shared/json-frame.ts'
import { OP } from '../../shared/protocol.ts'
import type { Delivery } from './delivery.ts'
import { QueueBase, shortRef } from './outbound-queue.ts'
import type { StoredMessage } from '../store/topic-store.ts'
import { FRAME_BYTES } from './binary-outbound.ts'

/** Outbound queue for `subwire.v1.json` (text frames, one JSON op per line). */
export class JsonOutbound extends QueueBase {
  #lines: string[] = []
  /** Queued characters, counted as bytes: close enough for limits (JSON is for tools, not the fast path). */
  #chars = 0

  protected get queuedBytes(): number {
    return this.#chars
  }

  #line(line: string): boolean {
    if (!this.admit(line.length + 1)) return false
    // Frames are capped as binary ones are (64 KiB; a longer line gets a frame of its own): a tick's lines never
    // pile up to maxFrame, which may be above a connection's whole pending budget (maxPendingBytes).
    if (this.#chars > 0 && this.#chars + line.length + 1 > Math.min(FRAME_BYTES, this.limits.maxFrame)) this.flush()
    this.#lines.push(line)
    this.#chars += line.length + 1
    this.markDirty()
    return true
  }

  msg(_prefix: Uint8Array, sid: number, d: Delivery): boolean {
    return this.#line(`[${OP.MSG},${sid},${d.jsonTail()}`)
  }

  ping(): void { this.#line(`[${OP.PING}]`) }
  pong(): void { this.#line(`[${OP.PONG}]`) }
  info(body: object): void { this.#line(jsonOp([OP.INFO, body])) }
  err(code: string, message: string, ref: string | number | null): void { this.#line(jsonOp([OP.ERR, code, message, shortRef(ref)])) }

  storedMsg(sid: number, m: StoredMessage, deliveryCount: number): boolean {
    const tail = jsonMsgTail(m.subject, null, m.headers as Record<string, string> | null, m.encoding, m.payload)
    return this.#line(`[${OP.MSG},${sid},${tail.slice(0, -1)},${m.seq},${m.time},${deliveryCount}]`)
  }

  event(sid: number, type: string, data: object): void { this.#line(jsonOp([OP.EVENT, sid, type, data])) }

  protected takeFrame(): string | null {
    if (this.#lines.length === 0) return null
    const frame = this.#lines.join('\n')
    this.#lines = []
    this.#chars = 0
    return frame
  }

  override discard(): void {
    super.discard()
    this.#lines = []
    this.#chars = 0
  }
}
