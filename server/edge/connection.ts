/**
 * One client connection: the handshake state machine, decoding of inbound frames, and dispatch of each op
 * to the router or to this connection's subscriptions. Everything it sends goes through its outbound queue.
 *
 * States (PROTOCOL §4.2): awaiting_connect → open → closing → closed. Before CONNECT only CONNECT is accepted.
 */
import type { IncomingMessage } from 'node:http'
import type { WebSocket, RawData } from 'ws'
import type { Logger } from 'pino'
import { protocolError, type OpSink } from '../../shared/op-sink.ts'
import { CLOSE_CODE_FOR, SubwireError, type ErrorCode } from '../../shared/errors.ts'
import { CLOSE_CODE, SUBPROTOCOL, type Subprotocol } from '../../shared/protocol.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import { BinaryOutbound } from '../outbound/binary-outbound.ts'
import { JsonOutbound } from '../outbound/json-outbound.ts'
import type { Outbound, OutboundEvents } from '../outbound/outbound-queue.ts'
import type { Delivery } from '../outbound/delivery.ts'
import { OFFERED, afterDrain, offer, type Offered } from '../outbound/slow-consumer.ts'
import type { ServerSubscription } from '../routing/subscription.ts'
import type { Credentials, Identity } from '../security/auth.ts'
import { Session } from '../security/session.ts'
import type { TopicReceiver } from '../topics/topics.ts'
import type { StoredMessage } from '../store/topic-store.ts'
import { summarize, type ConnectionSummary } from './broker-events.ts'
import { CONN_STATE, HIDDEN_MISSED_PINGS, type ConnState, type ConnectionHost } from './connection-host.ts'
import { addSubscription, narrowSubscriptions, removeSubscription, withdrawAllSubscriptions } from './connection-subscriptions.ts'
import { parseConnect, type SessionLink } from './handshake.ts'
import { InboundGate, decodeInput } from './inbound-gate.ts'
import { Login } from './login.ts'
import { intakePublish } from './publish-intake.ts'

export class Connection implements OpSink, OutboundEvents, TopicReceiver {
  readonly id: string
  readonly remoteAddress: string
  readonly subprotocol: Subprotocol
  readonly subscriptions = new Map<number, ServerSubscription>()
  name = ''
  echo = true
  /** Set by any inbound frame; the heartbeat sweep reads and clears it. */
  sawInbound = true
  /** True once it has published: only publishers are paused when a subscriber is congested. */
  isPublisher = false
  readonly connectedAt = Date.now()
  msgsIn = 0
  bytesIn = 0
  msgsOut = 0
  bytesOut = 0
  readonly session: Session
  readonly #host: ConnectionHost<Connection>
  readonly #socket: WebSocket
  #outbound: Outbound
  /** Set when CONNECT asked for a resumable session; it then wraps the outbound queue (session-resume.ts). */
  #resume: SessionLink | null = null
  /** Credentials over the connection's life; null when the broker checks none and no AUTH came (login.ts). */
  #login: Login | null
  /** Input held back (authentication, rate limits); null while nothing needs holding (inbound-gate.ts). */
  #gate: InboundGate | null = null
  #state: ConnState = CONN_STATE.awaitingConnect
  #missedPings = 0
  #hidden = false // said by the client's PING (its page is hidden): it may miss HIDDEN_MISSED_PINGS, not 2
  #paused = false
  #connectTimer: NodeJS.Timeout | null = null
  #killTimer: NodeJS.Timeout | null = null
  #log: Logger | null = null

  constructor(host: ConnectionHost<Connection>, socket: WebSocket, id: string, remoteAddress: string, subprotocol: Subprotocol, request: IncomingMessage) {
    this.#host = host
    this.#socket = socket
    this.session = new Session(host.inboxes)
    this.#login = host.auth.required ? new Login(this, host, host.auth.needsRequest ? request : null) : null
    if (InboundGate.isMetered(host.config)) this.#gate = new InboundGate(this, host, socket)
    this.id = id
    this.remoteAddress = remoteAddress
    this.subprotocol = subprotocol
    // The broker's config has the queue's limit fields: one object for every connection, not one each.
    const limits = host.config
    this.#outbound = subprotocol === SUBPROTOCOL.json
      ? new JsonOutbound(socket, limits, this, host.scheduler)
      : new BinaryOutbound(socket, limits, this, host.scheduler)
    socket.on('message', this.#onMessage)
    socket.on('close', this.#onClose)
    socket.on('error', this.#onError)
    this.#connectTimer = setTimeout(Connection.#connectTimedOut, host.config.authTimeoutMs, this)
    this.#outbound.info(host.info(id))
  }

  get state(): ConnState { return this.#state }

  get pendingBytes(): number { return this.#outbound.pendingBytes }

  get log(): Logger { return (this.#log ??= this.#host.logger.child({ cid: this.id })) }

  /**
   * Logs a connection's life events at info. The child logger is made only when info is enabled: made for every
   * connection of a silent broker, it cost about a kilobyte each in the idle-connections benchmark.
   */
  #logInfo(fields: object, message: string): void {
    if (this.#host.logger.isLevelEnabled('info')) this.log.info(fields, message)
  }

  /** A snapshot for stats pages and broker events. */
  summary(): ConnectionSummary { return summarize(this) }

  #setState(next: ConnState): void { this.#state = next }

  // ---- inbound ------------------------------------------------------------------------------------------

  readonly #onMessage = (data: RawData, isBinary: boolean): void => {
    this.sawInbound = true
    if (this.#state === CONN_STATE.closing || this.#state === CONN_STATE.closed) return
    const bytes = data as Buffer // binaryType is 'nodebuffer': ws hands over one Buffer per message
    try {
      if (this.subprotocol === SUBPROTOCOL.json) {
        if (isBinary) throw protocolError('binary frame on the JSON subprotocol (send text frames)')
        this.#handleFrame(bytes.toString('utf8'))
      } else {
        if (!isBinary) throw protocolError(`text frame on the binary subprotocol (use ${SUBPROTOCOL.json} for JSON)`)
        this.#handleFrame(bytes)
      }
    } catch (err) {
      this.onInboundError(err)
    }
  }

  /** Decodes a frame, in order behind any held ones (inbound-gate.ts says when frames are held). */
  #handleFrame(frame: Buffer | string): void {
    const gate = this.#gate
    if ((gate === null || gate.passing) && this.#state === CONN_STATE.open) {
      // The common case, straight through: nothing held, nothing holding. (Only CONNECT stops a frame early,
      // and CONNECT on an open connection is a protocol error, so the whole frame is always decoded here.)
      decodeInput(this.#host, frame, this)
      return
    }
    ;(gate ?? (this.#gate = new InboundGate(this, this.#host, this.#socket))).hold(frame)
    this.#drainGate()
  }

  #drainGate(): void {
    const gate = this.#gate
    if (gate === null) return
    gate.drain()
    if (gate.idle && this.#gate === gate) this.#gate = null
  }

  /** True while held input may be decoded (see GateOwner). */
  get decoding(): boolean { return this.#state === CONN_STATE.open || this.#state === CONN_STATE.awaitingConnect }

  /** The gate has already decoded what it held (inside its own error handling); reading resumes. */
  onThrottleEnd(): void {
    if (!this.#paused && this.#state === CONN_STATE.open) this.#socket.resume()
  }

  /** A decoding error ends the connection: after a malformed op the rest of the frame cannot be trusted. */
  onInboundError(err: unknown): void {
    if (err instanceof SubwireError) {
      this.log.debug({ code: err.code, err: err.message }, 'inbound frame refused')
      this.closeWith(err.code === 'protocol' ? 'protocol' : err.code, err.message)
      return
    }
    this.log.error({ err }, 'unexpected error handling a frame')
    this.closeWith('protocol', 'internal error while handling the frame')
  }

  #expectOpen(op: string): void {
    if (this.#state !== CONN_STATE.open) throw protocolError(`${op} before CONNECT: the first op must be CONNECT`)
  }

  onConnect(body: Record<string, WireValue>): boolean {
    if (this.#state !== CONN_STATE.awaitingConnect) throw protocolError('a second CONNECT on one connection')
    const { name, echo, lang, version, resume } = parseConnect(body)
    this.name = name
    this.echo = echo
    this.#resume = resume
    if (this.#login === null) {
      this.#admit({ user: '', permissions: null, expiresAt: null }, lang, version)
      return true
    }
    this.#setState(CONN_STATE.authenticating)
    this.#socket.pause() // TCP backpressure while the check runs; what already arrived is held
    void this.#login.check(body as Credentials, lang, version)
    return false
  }

  get authenticating(): boolean { return this.#state === CONN_STATE.authenticating }

  get isOpen(): boolean { return this.#state === CONN_STATE.open }

  onAuthenticated(identity: Identity, lang: string | undefined, version: string | undefined): void {
    if (this.#state !== CONN_STATE.authenticating) return
    this.#admit(identity, lang, version)
    // Most credentials never expire: then nothing is left for the login to do (idle connections are counted in bytes).
    if (this.#login?.idle === true) this.#login = null
    this.#socket.resume()
    try {
      this.#drainGate()
    } catch (err) {
      this.onInboundError(err)
    }
  }

  /** CONNECT accepted: the connection is open for this identity. */
  #admit(identity: Identity, lang: string | undefined, version: string | undefined): void {
    this.#clearConnectTimer()
    this.session.setIdentity(identity)
    this.#login?.armExpiry(identity.expiresAt)
    this.#setState(CONN_STATE.open)
    if (this.#host.auth.required) this.#outbound.info({ authExpiresAt: identity.expiresAt, user: identity.user })
    if (this.#resume !== null) this.#outbound = this.#resume.open(this.#host, this, this.#outbound, identity)
    this.#host.onOpen(this)
    this.#logInfo({ name: this.name, user: identity.user, ip: this.remoteAddress, lang, version, subprotocol: this.subprotocol }, 'client connected')
  }

  /** AUTH: new credentials on a live connection (PROTOCOL §4.8). Subscriptions stay unless no longer allowed. */
  onAuth(body: Record<string, WireValue>): void {
    this.#expectOpen('AUTH')
    ;(this.#login ??= new Login(this, this.#host, null)).reauthenticate(body as Credentials)
  }

  onReauthenticated(identity: Identity): void {
    this.session.setIdentity(identity)
    this.#resume?.rebind(identity)
    for (const { sid, refusal } of narrowSubscriptions(this.#host, this)) {
      this.#outbound.err('permission', `${refusal} (after re-authentication)`, sid)
    }
    this.#outbound.info({ authExpiresAt: identity.expiresAt, user: identity.user })
  }

  refuseAuth(message: string): void { this.#outbound.err('auth_failed', message, 'auth') }

  resumeReading(): void { this.#socket.resume() }

  onPub(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, payload: Uint8Array | null, size: number, tail: Uint8Array | null): void {
    if (this.#state !== CONN_STATE.open) this.#expectOpen('PUB')
    if (!this.isPublisher) { this.isPublisher = true; this.#host.onPublisher(this) }
    this.msgsIn++
    this.bytesIn += size
    if (this.#gate !== null && this.#gate.metered) this.#gate.meter(size)
    intakePublish(this.#host, this, flags, subject, reply, headers, encoding, payload, size, tail)
  }

  refusePublish(code: ErrorCode, message: string, ref: string | number): void { this.#outbound.err(code, message, ref) }

  onSub(sid: number, subject: string, queue: string | null, options: Record<string, WireValue> | null): void {
    this.#expectOpen('SUB')
    if (this.subscriptions.has(sid)) throw protocolError(`sid ${sid} is already in use on this connection`)
    const error = addSubscription(this.#host, this, sid, subject, queue, options)
    if (error !== null) this.#outbound.err(error.code, error.message, sid)
  }

  /** ACK: settles a work-queue message this connection holds (PROTOCOL §8.4). */
  onAck(sid: number, seq: number, kind: number, delayMs: number): void {
    this.#expectOpen('ACK')
    if (this.#resume !== null && this.#resume.onAck(sid, seq, kind)) return
    const sub = this.subscriptions.get(sid)
    if (sub === undefined || sub.kind !== 'group') {
      this.#outbound.err('bad_option', `sid ${sid} is not an acked subscription`, sid)
      return
    }
    this.#host.topics.settle(this, sid, sub.topic as string, sub.queue as string, seq, kind, delayMs)
  }

  onUnsub(sid: number, max: number | null): void {
    this.#expectOpen('UNSUB')
    const sub = this.subscriptions.get(sid)
    if (sub === undefined) return // already gone (an auto-unsubscribe may have raced this UNSUB)
    if (max === null || sub.delivered >= max) removeSubscription(this.#host, this, sub)
    else sub.max = max
  }

  /** A PING; a browser client says with it whether its page is hidden (PROTOCOL §4.7). */
  onPing(state: Record<string, WireValue> | null): void {
    this.#expectOpen('PING')
    if (typeof state?.hidden === 'boolean') this.#hidden = state.hidden
    this.#outbound.pong()
  }

  onPong(): void { this.#expectOpen('PONG') }

  onInfo(): void { throw protocolError('INFO is sent by the server, not by clients') }
  onEvent(): void { throw protocolError('EVENT is sent by the server, not by clients') }
  onMsg(): void { throw protocolError('MSG is sent by the server, not by clients') }
  onErr(): void { throw protocolError('ERR is sent by the server, not by clients') }

  // ---- outbound -----------------------------------------------------------------------------------------

  /** Queues one message for one of this connection's subscriptions, or says why not (slow-consumer.ts OFFERED). */
  deliver(sub: ServerSubscription, d: Delivery): Offered {
    // Every delivery path passes here, so a permission can never be bypassed by how a message got routed.
    if (this.session.restricted && !sub.ownInbox) {
      if (!this.session.mayReceive(d.subject, d.headers)) return OFFERED.refused
      if (d.reply !== null) this.session.noteRequest(d.reply)
    }
    const offered = offer(this.#outbound, this.#host.config.maxPendingBytes, sub, d, this)
    if (offered !== OFFERED.sent) return offered
    this.msgsOut++
    this.bytesOut += d.payloadLength
    if (++sub.delivered === sub.max) removeSubscription(this.#host, this, sub)
    return offered
  }

  /** Queues a message read from a topic; every topic delivery path passes here. */
  deliverStored(sid: number, m: StoredMessage, deliveryCount: number): void {
    const sub = this.subscriptions.get(sid)
    if (sub === undefined || !sub.active) return
    if (this.session.restricted && !this.session.mayReceive(m.subject, m.headers)) return
    if (this.#outbound.storedMsg(sid, m, deliveryCount)) { this.msgsOut++; this.bytesOut += m.payload.length }
  }

  /** Sends a subscription event (gap, slow_consumer). */
  event(sid: number, type: string, data: Record<string, unknown>): void {
    this.#outbound.event(sid, type, data)
  }

  /** True while the socket is behind (see TopicReceiver). */
  get congested(): boolean { return this.#outbound.congested }

  /** True while more than the high-water mark of bytes waits to be sent (topic replays pause). */
  get backedUp(): boolean { return this.#outbound.pendingBytes > this.#host.config.highWaterBytes }

  onCongested(): void { this.#host.onCongested(this) }
  onDrained(): void {
    this.#host.onDrained(this)
    this.#host.topics.resume(this)
    afterDrain(this.#outbound, this.#host.config.maxPendingBytes, this)
    this.#resume?.drained() // the rest of a replay (session-resume.ts)
  }

  onOverflow(pendingBytes: number): void {
    if (this.#state === CONN_STATE.closing || this.#state === CONN_STATE.closed) return
    this.log.warn({ pendingBytes, limit: this.#host.config.maxPendingBytes }, 'slow consumer: closing')
    this.#host.onSlowConsumer(this)
    this.closeWith('slow_consumer', `more than ${this.#host.config.maxPendingBytes} bytes waiting to be sent`)
  }

  // ---- liveness and flow control ------------------------------------------------------------------------

  /** Called by the broker's one heartbeat sweep: counts missed PINGs and sends the next one. */
  heartbeat(): void {
    if (this.#state !== CONN_STATE.open || this.#paused) return
    if (this.sawInbound) {
      this.sawInbound = false
      this.#missedPings = 0
    } else if (++this.#missedPings >= (this.#hidden ? HIDDEN_MISSED_PINGS : 2)) {
      this.closeWith('stale_connection', `no traffic in reply to ${this.#missedPings} PINGs`)
      return
    }
    this.#outbound.ping()
  }

  /** Stops or restarts reading this socket (publisher backpressure). */
  setPaused(paused: boolean): void {
    if (paused === this.#paused || this.#state === CONN_STATE.closed) return
    this.#paused = paused
    if (paused) this.#socket.pause()
    else if (!(this.#gate?.throttled ?? false) && this.#state !== CONN_STATE.authenticating) {
      this.#socket.resume()
      this.sawInbound = true // time spent paused was our silence, not theirs
    }
  }

  // Timer callbacks are static and get the connection as their argument: an arrow-function property per
  // timer was one more closure held by every idle connection.
  static #connectTimedOut(conn: Connection): void {
    conn.#connectTimer = null
    if (conn.#state === CONN_STATE.awaitingConnect || conn.#state === CONN_STATE.authenticating) {
      conn.closeWith('connect_timeout', `not connected and authenticated within ${conn.#host.config.authTimeoutMs} ms`)
    }
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) { clearTimeout(this.#connectTimer); this.#connectTimer = null }
  }

  // ---- closing ------------------------------------------------------------------------------------------

  /**
   * Tells the client why (ERR, when there is room), then closes with the code's close code. A client that
   * does not finish the close handshake within `closeGraceMs` is cut off. Idempotent.
   */
  closeWith(code: ErrorCode, message: string): void {
    if (this.#state === CONN_STATE.closing || this.#state === CONN_STATE.closed) return
    this.#setState(CONN_STATE.closing)
    this.#clearConnectTimer()
    this.#resume?.closing(code)
    if (code !== 'slow_consumer') this.#outbound.err(code, message, null)
    this.#outbound.flush()
    const closeCode = CLOSE_CODE_FOR[code] ?? CLOSE_CODE.protocol
    // The close reason carries the error code (PROTOCOL §7): browsers expose it even when no ERR got through.
    this.#socket.close(closeCode, code)
    this.#killTimer = setTimeout(Connection.#kill, this.#host.config.closeGraceMs, this)
    this.#killTimer.unref()
  }

  static #kill(conn: Connection): void {
    conn.#killTimer = null
    conn.#socket.terminate()
  }

  readonly #onError = (err: Error): void => {
    this.log.debug({ err: err.message }, 'socket error')
  }

  readonly #onClose = (code: number): void => {
    if (this.#state === CONN_STATE.closed) return
    this.#setState(CONN_STATE.closed)
    this.#clearConnectTimer()
    if (this.#killTimer !== null) { clearTimeout(this.#killTimer); this.#killTimer = null }
    this.#login?.close()
    this.#outbound.discard()
    this.#gate?.close()
    this.#gate = null
    // A parked resumable session keeps its plain subscriptions routed into its log (session-resume.ts).
    const parked = this.#resume !== null && this.#resume.park(this, code)
    if (!parked) withdrawAllSubscriptions(this.#host, this)
    this.#logInfo({ code }, 'client disconnected')
    this.#host.onClosed(this, code)
    if (!parked) this.subscriptions.clear()
  }
}
