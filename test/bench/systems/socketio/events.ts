/**
 * The Socket.IO baseline's events. Subjects are rooms; a queue group is a list of sockets picked
 * round-robin by the server; `reply` carries the requester's inbox subject (or null).
 */

export interface ClientToServer {
  sub(subject: string, queue: string | null): void
  pub(subject: string, data: Uint8Array, reply: string | null): void
  flush(ack: () => void): void
}

export interface ServerToClient {
  msg(subject: string, data: Uint8Array, reply: string | null): void
}
