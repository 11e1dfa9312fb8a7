/**
 * The client's states, as an `as const` object with its derived union (HOUSE_STYLE 5). Its own file so the
 * helpers that check the state (credentials.ts) need not import client.ts.
 *
 * States: connecting → connected ⇄ reconnecting; connected → draining → closed; any → closed.
 */

/** Every state of a `Client`; read it with `client.state`. */
export const CLIENT_STATE = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  draining: 'draining',
  closed: 'closed',
} as const

export type ClientState = (typeof CLIENT_STATE)[keyof typeof CLIENT_STATE]
