/**
 * The raw-ws baseline's envelope: one WebSocket binary frame per op, no batching.
 *
 *   SUB       [op][len][subject][len][queue]           queue may be empty
 *   PUB / MSG [op][len][subject][len][reply][payload]  reply may be empty; MSG is PUB with its op byte flipped
 *   PING/PONG [op]
 *
 * Subjects are ASCII and at most 255 bytes. The broker forwards a PUB by flipping its first byte to MSG
 * and sending the same buffer to every subscriber, so it encodes nothing per message.
 */

export const Op = { sub: 1, pub: 2, msg: 3, ping: 4, pong: 5 } as const
export type OpCode = (typeof Op)[keyof typeof Op]

/** A decoded frame; `payloadOffset` indexes the frame's payload bytes (PUB/MSG only). */
export interface RawFrame {
  readonly op: number
  readonly subject: string
  /** The queue of a SUB, the reply subject of a PUB/MSG; '' when absent. */
  readonly second: string
  readonly payloadOffset: number
}

const MAX_TOKEN_BYTES = 255

/** Encodes SUB/PUB/MSG. */
export function encodeFrame(op: OpCode, subject: string, second: string, payload?: Uint8Array): Buffer {
  checkLength(subject)
  checkLength(second)
  const size = 3 + subject.length + second.length + (payload?.byteLength ?? 0)
  const frame = Buffer.allocUnsafe(size)
  frame[0] = op
  frame[1] = subject.length
  frame.write(subject, 2, 'latin1')
  const secondAt = 2 + subject.length
  frame[secondAt] = second.length
  frame.write(second, secondAt + 1, 'latin1')
  if (payload !== undefined) frame.set(payload, secondAt + 1 + second.length)
  return frame
}

/** Encodes a one-byte control frame (PING/PONG). */
export function encodeControl(op: typeof Op.ping | typeof Op.pong): Buffer {
  return Buffer.of(op)
}

/** Decodes the header of any frame; the payload stays in place. */
export function decodeFrame(frame: Buffer): RawFrame {
  const op = frame[0] ?? 0
  if (op === Op.ping || op === Op.pong) return { op, subject: '', second: '', payloadOffset: 1 }
  const subjectLength = frame[1] ?? 0
  const subject = frame.toString('latin1', 2, 2 + subjectLength)
  const secondAt = 2 + subjectLength
  const secondLength = frame[secondAt] ?? 0
  const second = frame.toString('latin1', secondAt + 1, secondAt + 1 + secondLength)
  return { op, subject, second, payloadOffset: secondAt + 1 + secondLength }
}

function checkLength(token: string): void {
  if (token.length > MAX_TOKEN_BYTES) throw new Error(`raw-ws envelope: token longer than 255 bytes: ${token}`)
}
