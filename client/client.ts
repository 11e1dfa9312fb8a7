/**
 * The subwire client: the connection state machine (client-state.ts) and the public surface. It composes what
 * does the work: outbound.ts (publishes, the tick's frame, the offline buffer), subscription-table.ts,
 * requests.ts, pings.ts (flush), dialer.ts (which server, when), handshake.ts, credentials.ts, heartbeat.ts.
 * The socket itself is transport.ts.
 */
import { FrameDecoder } from '../shared/frame-decoder.ts'
import { isEncoding, type OpSink } from '../shared/op-sink.ts'
import { SubwireError, isErrorCode } from '../shared/errors.ts'
import { CLOSE_CODE, DEFAULT_LIMITS, HEADER, PUB_FLAG, type Info } from '../shared/protocol.ts'
import { assertPattern } from '../shared/subject.ts'
import type { WireValue } from '../shared/msgpack-reader.ts'
import { CLIENT_STATE, type ClientState } from './client-state.ts'
import { closeError } from './close-error.ts'
import { Credentials, type CredentialsLink } from './credentials.ts'
import { Dialer } from './dialer.ts'
import { Handshake } from './handshake.ts'
import { Heartbeat } from './heartbeat.ts'
import type { Msg, Responder } from './message.ts'
import { DEFAULT_MAX_PENDING, DEFAULT_REQUEST_TIMEOUT, type ConnectOptions, type PublishOptions, type RequestOptions } from './options.ts'
import { Outbound } from './outbound.ts'
import { Pings } from './pings.ts'
import { paceForClose } from './reconnect.ts'
import { Requests } from './requests.ts'
import { Resume } from './resume.ts'
import { logIdOf, sanitizeInfo } from './server-info.ts'
import { StatusHub, type Status } from './status.ts'
import type { Subscription, SubscribeOptions } from './subscription.ts'
import { SubscriptionTable, type SubscriptionTableLink } from './subscription-table.ts'
import { Transport } from './transport.ts'
import { TopicsApi } from './topics.ts'
import type { PublishRest, ReceiveData, ReceiveSubject, ReplyData, RespondData, SchemaOptions, SendData, SendSubject, Untyped } from './typed.ts'

/** A connection. `S` is an optional subject schema, `O` its options (client/typed.ts); without them all data is `unknown`. */
export class Client<S extends object = Untyped, O extends SchemaOptions = {}> implements OpSink, SubscriptionTableLink, Responder, CredentialsLink {
  readonly servers: readonly string[]
  readonly #options: ConnectOptions
  #state: ClientState = CLIENT_STATE.connecting
  #transport: Transport | null = null
  #info: Info | null = null
  #handshake: Handshake | null = null
  /** Why the attempt under way lost its socket between its PONG and becoming the live connection. */
  #lostEarly: SubwireError | null = null
  /** Every op this client sends goes through here: the tick's frame while connected, else the offline buffer. */
  readonly #outbound: Outbound
  readonly #pings: Pings
  readonly #credentials: Credentials
  readonly #heartbeat: Heartbeat
  readonly #subs: SubscriptionTable
  readonly #requests: Requests
  readonly #dialer: Dialer
  #resume: Resume | null = null // `resume: true`: the session's count, token and restore (client/resume.ts)
  readonly #status = new StatusHub()
  readonly #decoder = new FrameDecoder({ maxOpsPerFrame: Number.MAX_SAFE_INTEGER, maxHeaders: 1024 })
  #drainPromise: Promise<void> | null = null
  #closedResolve!: (v: void | Error) => void
  /** Resolves when the client is closed: undefined after close(), the error if it gave up. */
  readonly closed: Promise<void | Error>
  /**
   * Topic management: `add`, `update`, `info`, `list`, `delete`, `purge`.
   * @example await c.topics.add({ name: 'orders', subjects: ['orders.>'], maxMsgs: 100_000 })
   */
  readonly topics: TopicsApi = new TopicsApi(async (subject, body) => (await this.#requests.ask(PUB_FLAG.request, subject, body, undefined, DEFAULT_REQUEST_TIMEOUT)).data)

  constructor(servers: string | string[], options: ConnectOptions = {}) {
    this.servers = Object.freeze(Array.isArray(servers) ? [...servers] : [servers])
    if (this.servers.length === 0) throw new SubwireError('bad_option', 'connect() needs at least one server URL')
    this.#options = { ...options }
    // Links are closures made once per client, keeping private members off the public surface (or `this`).
    this.#outbound = new Outbound({
      sending: () => this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining,
      transport: () => this.#transport,
    }, options.maxPendingBytes ?? DEFAULT_MAX_PENDING)
    this.#pings = new Pings(this.#outbound)
    if (options.resume === true) this.#resume = new Resume(this.#outbound, this.#status)
    this.#credentials = new Credentials(this.#options, this, this.#outbound)
    this.#subs = new SubscriptionTable(this, this.#outbound, this.#status, options.validate ?? null)
    this.#requests = new Requests({
      subscribe: (subject, opts) => this.#subs.exempt(this.#subscribe(subject, opts)),
      publish: (flags, subject, data, reply, headers) => this.#publish(flags, subject, data, reply, headers),
      screen: (subject, msg) => this.#subs.screenReply(subject, msg),
    })
    this.#dialer = new Dialer(this.servers, options.reconnect, this.#status, {
      state: () => this.#state,
      attempt: (url) => this.#attempt(url),
      connected: () => this.#onConnected(),
      giveUp: (err) => this.#shutdown(err),
    })
    this.#heartbeat = new Heartbeat({
      probe: (hidden) => this.#pings.send(null, hidden),
      stale: () => { this.#status.emit({ type: 'stale', server: this.server }); this.#transport?.close(CLOSE_CODE.stale, 'stale_connection') },
      wake: () => this.#dialer.wake(),
    }, options)
    this.closed = new Promise((resolve) => { this.#closedResolve = resolve })
  }

  // ---- public surface -----------------------------------------------------------------------------------

  get state(): ClientState {
    return this.#state
  }

  get isClosed(): boolean {
    return this.#state === CLIENT_STATE.closed
  }

  /** The server's INFO of the current (or last) connection. */
  get info(): Info | null {
    return this.#info
  }

  /** The server URL of the current connection. */
  get server(): string {
    return this.#dialer.server
  }

  /** Bytes written by this client and not yet sent (for publishers that pace themselves). */
  get pendingBytes(): number {
    return this.#outbound.size + (this.#transport?.bufferedAmount ?? 0)
  }

  /**
   * Publishes a message. Synchronous: the op is coalesced with the tick's others into one frame.
   * @throws SubwireError `bad_subject`, `max_payload`, `bad_payload`, `disconnected_buffer_full`, `connection_closed`
   * @example c.publish('orders.eu.created', { id: 7 }, { headers: { trace: 'abc' } })
   */
  publish<const K extends string>(subject: K & SendSubject<S, O, K>, ...rest: PublishRest<SendData<S, K>, PublishOptions>): void
  publish(subject: string, data?: unknown, options?: PublishOptions): void {
    this.#publish(0, subject, data, options?.reply, options?.headers)
  }

  #publish(flags: number, subject: string, data: unknown, reply: string | null | undefined, headers: Record<string, string> | undefined): void {
    if (this.#state === CLIENT_STATE.closed) throw new SubwireError('connection_closed', 'the client is closed')
    const live = this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining
    this.#outbound.publish(flags, subject, data, reply, headers, this.#info, live)
  }

  /**
   * Publishes to a topic and resolves once the broker stored it (a publisher confirm).
   * @throws SubwireError `no_topic`, `topic_full`, `wrong_last_seq`, `max_payload`, `timeout`, `permission` (at once)
   * @example const { seq, duplicate } = await c.publishAck('orders.eu.1', order, { msgId: order.id })
   */
  publishAck<const K extends string>(subject: K & SendSubject<S, O, K>, ...rest: PublishRest<SendData<S, K>, { msgId?: string; expectedLastSeq?: number; headers?: Record<string, string>; timeout?: number }>): Promise<{ topic: string; seq: number; duplicate: boolean }>
  async publishAck(subject: string, data?: unknown, options: { msgId?: string; expectedLastSeq?: number; headers?: Record<string, string>; timeout?: number } = {}): Promise<{ topic: string; seq: number; duplicate: boolean }> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) }
    if (options.msgId !== undefined) headers[HEADER.msgId] = options.msgId
    if (options.expectedLastSeq !== undefined) headers[HEADER.expectedLastSeq] = String(options.expectedLastSeq)
    const answer = this.#requests.ask(PUB_FLAG.ack, subject, data, Object.keys(headers).length === 0 ? undefined : headers, options.timeout ?? DEFAULT_REQUEST_TIMEOUT)
    return (await answer).data as { topic: string; seq: number; duplicate: boolean }
  }

  /**
   * Subscribes to a subject (wildcards allowed). Iterate the result with `for await`, or pass `callback`.
   * @throws SubwireError `bad_subject` at once for an invalid subject
   * @example for await (const m of c.subscribe('orders.*.created')) console.log(m.subject, m.data)
   */
  subscribe<const P extends string>(subject: P & ReceiveSubject<S, O, P>, options?: SubscribeOptions<ReceiveData<S, P>, RespondData<S, P>>): Subscription<ReceiveData<S, P>, RespondData<S, P>>
  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    return this.#subscribe(subject, options)
  }

  #subscribe(subject: string, options: SubscribeOptions): Subscription {
    if (this.#state === CLIENT_STATE.closed) throw new SubwireError('connection_closed', 'the client is closed')
    if (this.#state === CLIENT_STATE.draining) throw new SubwireError('draining', 'the client is draining')
    assertPattern(subject, this.#info?.maxSubjectLength ?? DEFAULT_LIMITS.maxSubjectLength)
    return this.#subs.add(subject, options, this.#state === CLIENT_STATE.connected, logIdOf(this.#info))
  }

  /**
   * Sends a request and waits for the first reply.
   * @throws SubwireError `no_responders` at once when nothing listens, `permission` at once when the user may not
   *   publish to `subject`, `timeout` when no reply comes in time
   * @example const r = await c.request('time.now', null, { timeout: 1000 }); console.log(r.data)
   */
  request<const K extends string>(subject: K & SendSubject<S, O, K>, ...rest: PublishRest<SendData<S, K>, RequestOptions>): Promise<Msg<ReplyData<S, K>>>
  async request(subject: string, data?: unknown, options: RequestOptions = {}): Promise<Msg> {
    return this.#requests.ask(PUB_FLAG.request, subject, data, options.headers, options.timeout ?? DEFAULT_REQUEST_TIMEOUT, true)
  }

  /**
   * Resolves once the server has processed everything this client sent before the call (a PING round trip).
   * While disconnected it waits for the reconnect.
   */
  flush(): Promise<void> {
    if (this.#state === CLIENT_STATE.closed) return Promise.reject(new SubwireError('connection_closed', 'the client is closed'))
    return this.#pings.flush(this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining)
  }

  /**
   * Presents fresh credentials on the live connection (the `token` function is called again), without
   * dropping it or any subscription. Done automatically shortly before credentials expire.
   * @throws SubwireError `auth_failed` when refused (the old credentials stay valid until they expire)
   * @example await c.reauthenticate()
   */
  reauthenticate(): Promise<void> {
    return this.#credentials.reauthenticate()
  }

  /** Iterates connection status events from now on (`disconnect`, `reconnecting`, `reconnect`, `error`, …). */
  status(): AsyncIterableIterator<Status> {
    return this.#status.listen()
  }

  /**
   * Unsubscribes everything, waits for the messages already on their way, sends what is queued, and closes.
   * Idempotent.
   */
  drain(): Promise<void> {
    if (this.#state === CLIENT_STATE.closed) return Promise.resolve()
    return (this.#drainPromise ??= this.#drain())
  }

  async #drain(): Promise<void> {
    const wasConnected = this.#state === CLIENT_STATE.connected
    this.#state = CLIENT_STATE.draining
    if (wasConnected) {
      this.#subs.unsubscribeAll()
      await this.flush().catch(() => undefined)
    }
    this.#subs.endAll()
    if (wasConnected) await this.flush().catch(() => undefined)
    await this.close()
  }

  /** Closes at once: pending requests fail with `connection_closed`. Idempotent. */
  async close(): Promise<void> {
    this.#shutdown(null)
    await this.closed
  }

  // ---- SubscriptionOwner ----------------------------------------------------------------------------------

  unsubscribeSid(sid: number): void {
    this.#subs.unsubscribe(sid, this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining)
  }

  drainSid(sid: number): Promise<void> {
    return this.#subs.drain(sid, this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining)
  }

  /** Settles a work-queue message (Msg.ack/nak/working/term). While disconnected it is dropped: the broker redelivers. */
  settle(sid: number, seq: number, kind: number, delayMs?: number): void {
    if (this.#state !== CLIENT_STATE.connected && this.#state !== CLIENT_STATE.draining) return
    this.#outbound.ack(sid, seq, kind, delayMs)
  }

  reportError(error: SubwireError, subject?: string): void {
    this.#status.emit(subject === undefined ? { type: 'error', error } : { type: 'error', error, subject })
  }

  // ---- OpSink: ops from the server ------------------------------------------------------------------------

  onInfo(body: Record<string, WireValue>): void {
    const hs = this.#handshake
    // Every number is held to its range (server-info.ts); a later INFO updates what it carries.
    const first = hs !== null && hs.phase === 'info'
    this.#info = sanitizeInfo(body, first ? null : this.#info)
    if (first) { hs.onInfo(); return }
    if (body.resume !== undefined) this.#resume?.answer(body.resume)
    // The answer to an authentication: CONNECT's (during the handshake) or AUTH's.
    if ('authExpiresAt' in body) this.#credentials.accepted(this.#info.authExpiresAt)
  }

  onMsg(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    frame: Uint8Array, payloadStart: number, payloadEnd: number, seq: number, time: number, deliveryCount: number): void {
    this.#heartbeat.heard()
    // A payload no decoder can read: the op cannot be trusted (as the broker treats a PUB, PROTOCOL §6).
    if (!isEncoding(encoding)) throw new SubwireError('bad_payload', `unknown payload encoding ${encoding}`)
    if (seq === 0) this.#resume?.counted(payloadEnd - payloadStart)
    this.#subs.deliver(sid, subject, reply, headers, encoding, frame, payloadStart, payloadEnd, seq, time, deliveryCount, this.#info)
  }

  /** A subscription event (`gap`, `slow_consumer`): reported on status() and to the subscription's callback. */
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void {
    this.#subs.onEvent(sid, type, data)
  }

  onPing(): void { this.#outbound.pong(); this.#resume?.ack() }

  onPong(): void {
    const hs = this.#handshake
    if (hs === null || hs.phase !== 'pong') { this.#pings.onPong(); return }
    this.#handshake = null // the handshake's own PONG: the attempt succeeded
    hs.resolve()
  }

  onErr(code: string, message: string, ref: string | number | null): void {
    const err = new SubwireError(isErrorCode(code) ? code : 'protocol', message)
    const hs = this.#handshake
    if (hs !== null) { hs.reject(err); return }
    if (ref === 'auth') this.#credentials.refused(err)
    if (typeof ref === 'number') {
      // A refused SUB: the subscription is dead on the server, so end it here too.
      const sub = this.#subs.refuse(ref, err)
      if (sub !== undefined) { this.reportError(err, sub.subject); return }
    }
    // A refused request or publishAck fails at once, not at its timeout (requests.ts `refuse`).
    if (typeof ref === 'string' && err.code === 'permission' && this.#requests.refuse(ref, err)) return
    this.reportError(err, typeof ref === 'string' ? ref : undefined)
  }

  onAck(): void { throw new SubwireError('protocol', 'ACK is sent by clients') }
  onConnect(): void { throw new SubwireError('protocol', 'CONNECT is sent by clients') }
  onAuth(): void { throw new SubwireError('protocol', 'AUTH is sent by clients') }
  onPub(): void { throw new SubwireError('protocol', 'PUB is sent by clients') }
  onSub(): void { throw new SubwireError('protocol', 'SUB is sent by clients') }
  onUnsub(): void { throw new SubwireError('protocol', 'UNSUB is sent by clients') }

  // ---- connection lifecycle -----------------------------------------------------------------------------

  /** First connection: each URL once, in order; rejects with the last error if none accepts. */
  start(): Promise<void> { return this.#dialer.dialFirst() }

  /**
   * One connection attempt: open, INFO, CONNECT + PING, PONG. A failed attempt's socket stops being the
   * client's at once, so its close is the attempt's failure and never also a lost connection.
   */
  #attempt(url: string): Promise<void> {
    const hs = new Handshake(url, this.#options, this.#credentials, (failed) => {
      if (this.#handshake === failed) this.#handshake = null
      if (failed.transport !== null && this.#transport === failed.transport) this.#transport = null
    }, this.#resume)
    this.#handshake = hs
    this.#lostEarly = null
    Transport.open(url, {
      onOpen: () => hs.opened(),
      onFrame: (bytes) => this.#onFrame(hs.transport, bytes),
      onClose: (code, reason, error, refusal) => {
        if (!hs.settled) {
          this.#dialer.retryAfter(refusal?.retryAfterMs ?? null)
          hs.reject(closeError(code, reason, error ?? `connection to ${url} closed during the handshake`, refusal))
        } else if (hs.transport === this.#transport && this.#state !== CLIENT_STATE.connected && this.#state !== CLIENT_STATE.draining) {
          // Lost after the PONG but before #onConnected (a bad frame in the PONG's read): the attempt fails.
          this.#transport = null
          this.#lostEarly = closeError(code, reason, error ?? `connection to ${url} closed right after the handshake`)
        } else {
          this.#onTransportClose(hs.transport, code, reason, error)
        }
      },
    }, { WebSocket: this.#options.WebSocket, maxFrame: DEFAULT_LIMITS.maxFrame * 2 }).then((t) => {
      if (hs.adopt(t)) this.#transport = t
    }, (err: unknown) => hs.reject(new SubwireError('connection_refused', String(err), { cause: err })))
    return hs.done
  }

  #onFrame(from: Transport | null, bytes: Uint8Array): void {
    if (from !== this.#transport) return
    this.#heartbeat.heard()
    try {
      this.#decoder.decode(bytes, this)
    } catch (err) {
      const error = err instanceof SubwireError ? err : new SubwireError('protocol', 'failed to handle a frame from the server', { cause: err })
      this.reportError(error)
      this.#transport?.close(CLOSE_CODE.protocol, 'protocol')
    }
  }

  /**
   * After a handshake: subscriptions first (one write), then the offline buffer, then deferred flushes.
   * Returns why the attempt failed after all when its socket is already gone (closed, or the client closed).
   */
  #onConnected(): SubwireError | null {
    if (this.#transport === null || this.#state === CLIENT_STATE.closed) {
      return this.#lostEarly ?? new SubwireError('connection_closed', 'the client was closed')
    }
    this.#state = CLIENT_STATE.connected
    if (this.#resume === null) this.#subs.resubscribeAll(logIdOf(this.#info))
    else this.#resume.restore(this.#subs.values(), this.server, logIdOf(this.#info))
    this.#outbound.restoreOffline()
    this.#pings.connected()
    this.#outbound.schedule()
    this.#heartbeat.start(this.#info?.heartbeatMs ?? DEFAULT_LIMITS.heartbeatMs)
    return null
  }

  #onTransportClose(from: Transport | null, code: number, reason: string, error: string | null): void {
    if (from !== this.#transport) return
    this.#transport = null
    this.#heartbeat.stop()
    this.#credentials.stop(new SubwireError('disconnected', 'the connection was lost during re-authentication'))
    // PINGs sent on the lost connection will never be answered: flush() callers wait for the next one.
    this.#pings.lost()
    // Ops of this tick that never reached the socket: keep the publishes, the rest is rebuilt on reconnect.
    this.#outbound.dropUnsent()
    this.#resume?.cut(this.#subs.values())
    if (this.#state === CLIENT_STATE.closed) return
    const err = code === 1000 ? null : closeError(code, reason, error)
    this.#status.emit({ type: 'disconnect', server: this.server, code, error: err })
    if (!this.#dialer.reconnects || this.#state === CLIENT_STATE.draining) {
      this.#shutdown(err ?? new SubwireError('connection_closed', 'the server closed the connection'))
      return
    }
    this.#state = CLIENT_STATE.reconnecting
    void this.#dialer.redial(paceForClose(code))
  }

  #shutdown(error: Error | null): void {
    if (this.#state === CLIENT_STATE.closed) return
    this.#state = CLIENT_STATE.closed
    this.#heartbeat.dispose()
    this.#credentials.stop(new SubwireError('connection_closed', 'the client was closed'))
    this.#dialer.wake()
    const t = this.#transport
    this.#transport = null
    t?.close(1000, '')
    this.#handshake?.reject(new SubwireError('connection_closed', 'the client was closed'))
    const closedErr = new SubwireError('connection_closed', 'the client is closed')
    this.#requests.rejectAll(closedErr)
    this.#pings.rejectAll(closedErr)
    this.#subs.endAll()
    this.#outbound.dropOffline()
    this.#status.emit({ type: 'close', error })
    this.#status.end()
    this.#closedResolve(error ?? undefined)
  }
}
