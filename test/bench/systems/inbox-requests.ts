/**
 * Request/reply for the baselines, which only have exact-subject pub/sub: each client owns one inbox
 * subject, every request carries a 4-byte id in front of its payload, and the echo responder sends the
 * payload back unchanged, so the id comes back with it. This is the smallest honest emulation of
 * subwire's request() (one inbox subscription per client, one correlation map).
 */

const ID_BYTES = 4

interface PendingRequest {
  resolve(data: Uint8Array): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

/** Correlates replies arriving on one inbox subject with the requests that caused them. */
export class InboxRequests {
  readonly inbox: string
  #pending = new Map<number, PendingRequest>()
  #nextId = 1

  constructor(inbox: string) {
    this.inbox = inbox
  }

  /** Prefixes `data` with a fresh id and returns the bytes to publish and the pending reply. */
  start(data: Uint8Array, timeoutMs: number): { payload: Uint8Array; reply: Promise<Uint8Array> } {
    const id = this.#nextId
    this.#nextId = (this.#nextId % 0xfffffffe) + 1
    const payload = new Uint8Array(ID_BYTES + data.byteLength)
    new DataView(payload.buffer).setUint32(0, id, true)
    payload.set(data, ID_BYTES)
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`request ${id} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
    })
    return { payload, reply }
  }

  /** Settles the request whose id leads `data`; replies for unknown (timed-out) ids are dropped. */
  settle(data: Uint8Array): void {
    if (data.byteLength < ID_BYTES) return
    const id = new DataView(data.buffer, data.byteOffset, ID_BYTES).getUint32(0, true)
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    clearTimeout(pending.timer)
    pending.resolve(data.subarray(ID_BYTES))
  }

  /** Fails every outstanding request, e.g. when the connection closes. */
  rejectAll(err: Error): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.#pending.clear()
  }
}

/** A per-process unique inbox name. */
export function newInboxSubject(clientName: string): string {
  return `_INBOX.${process.pid}.${clientName}`
}
