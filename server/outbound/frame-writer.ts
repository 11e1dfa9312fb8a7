/**
 * Writes whole WebSocket frames to a connection's TCP socket in one `write`, with the frame header put in
 * room the outbound queue leaves before each frame's bytes (HEADER_ROOM).
 *
 * Why not `ws.send`: a server frame through ws is a header buffer of its own plus the data, written as
 * cork + two writes + uncork, i.e. Node's buffered writev path. In D (1 publish → 100 subscribers at
 * 200/s) that path was ~90 % of everything the broker allocated (sampled heap profile: stream
 * clearBuffer/writeOrBuffer/onwrite, ws Sender.frame/send), which is what its young-generation pauses
 * collect. One write of one buffer takes Node's direct path.
 *
 * The socket is ws's own (`_socket`, unchanged since ws 1.x): frames written here and ws's own frames (close,
 * pong to a client ping) go to the same stream in call order, and ws counts both in `bufferedAmount`. The
 * raw path is used only when no extension was negotiated (a permessage-deflate connection stays on
 * `ws.send`) and falls back to `ws.send` if the socket is not found; test/outbound/frame-writer.test.ts
 * checks that the raw path is the one taken.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/** Bytes reserved before each binary frame's payload: the longest server frame header (2 + 8, no mask). */
export const HEADER_ROOM = 10

/** The socket ws writes to, when frames may be written to it directly. */
export function rawSocketOf(ws: WebSocket): Socket | null {
  if (ws.extensions !== '') return null
  const socket = (ws as unknown as { _socket?: Socket })._socket
  return socket !== undefined && socket !== null && typeof socket.write === 'function' ? socket : null
}

/**
 * Writes the header of a final binary frame whose payload is `buffer[HEADER_ROOM, HEADER_ROOM + length)`
 * just before it, and returns where the frame starts.
 */
export function frameBinary(buffer: Uint8Array, length: number): number {
  if (length < 126) {
    buffer[HEADER_ROOM - 2] = 0x82
    buffer[HEADER_ROOM - 1] = length
    return HEADER_ROOM - 2
  }
  if (length < 65536) {
    buffer[HEADER_ROOM - 4] = 0x82
    buffer[HEADER_ROOM - 3] = 126
    buffer[HEADER_ROOM - 2] = length >>> 8
    buffer[HEADER_ROOM - 1] = length & 0xff
    return HEADER_ROOM - 4
  }
  buffer[0] = 0x82
  buffer[1] = 127
  // Frames are far below 2^32 bytes (maxFrame): the high word is zero.
  buffer[2] = buffer[3] = buffer[4] = buffer[5] = 0
  buffer[6] = length >>> 24
  buffer[7] = (length >>> 16) & 0xff
  buffer[8] = (length >>> 8) & 0xff
  buffer[9] = length & 0xff
  return 0
}
