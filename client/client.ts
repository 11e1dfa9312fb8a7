/**
 * The subwire client: connection state machine, publish/subscribe/request/flush/drain/close, the offline
 * buffer and reconnect. The socket itself is transport.ts; backoff rules are reconnect.ts.
 *
 * States: connecting → connected ⇄ reconnecting; connected → draining → closed; any → closed.
 */
import { FrameDecoder } from '../shared/frame-decoder.ts'
import { PING_BYTES, PONG_BYTES, writeAck, writeBodyOp, writePub, writeSub, writeUnsub } from '../shared/op-writer.ts'
import { encodePayload } from '../shared/payload-codec.ts'
import type { OpSink } from '../shared/op-sink.ts'
import { SubwireError, errorCodeForClose, isErrorCode, type ErrorCode } from '../shared/errors.ts'
import { CLOSE_CODE, DEFAULT_LIMITS, HEADER, OP, PROTOCOL_VERSION, PUB_FLAG, type ConnectInfo, type Info } from '../shared/protocol.ts'
import { assertPattern, assertSubject, subjectProblem } from '../shared/subject.ts'
import type { WireValue } from '../shared/msgpack-reader.ts'
import { encodedHeadersSize } from './headers-size.ts'
import { Msg, type Responder } from './message.ts'
import { OpBuffer } from './op-buffer.ts'
import { backoffDelay, paceForClose, reconnectConfig, type ReconnectOptions, type ReconnectPace } from './reconnect.ts'
import { Requests } from './requests.ts'
import { StatusHub, type Status } from './status.ts'
import { Subscription, type SubscribeOptions, type SubscriptionOwner } from './subscription.ts'
import { Transport, type HandshakeRefusal, type WebSocketConstructor } from './transport.ts'
import { TopicsApi } from './topics.ts'

/** Options of `connect()`. */
export interface ConnectOptions {
  /** Shown in the broker's logs. */
  name?: string
  /** Credential sent in CONNECT; a function is called before every (re)connect, so a refreshed token is used. */
  token?: string | (() => string | Promise<string>)
  user?: string
  password?: string
  /** Reconnect policy; `false` turns reconnecting off. */
  reconnect?: ReconnectOptions | false
  /** Bytes of publishes kept while disconnected; past it `publish` throws `disconnected_buffer_full`. @default 8 MiB */
  maxPendingBytes?: number
  /** Time one connection attempt may take, handshake included. @default 10000 */
  connectTimeoutMs?: number
  /** Receive this connection's own publishes on its own subscriptions. @default true */
  echo?: boolean
  /** WebSocket class to use instead of the global one (or `ws` in Node). */
  WebSocket?: WebSocketConstructor
}

/** Options of `publish()`. */
export interface PublishOptions {
  headers?: Record<string, string>
  reply?: string
}

/** Options of `request()`. */
export interface RequestOptions {
  /** @default 5000 */
  timeout?: number
  headers?: Record<string, string>
}

export const CLIENT_STATE = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  draining: 'draining',
  closed: 'closed',
} as const
export type ClientState = (typeof CLIENT_STATE)[keyof typeof CLIENT_STATE]

const DEFAULT_MAX_PENDING = 8 * 1024 * 1024
const DEFAULT_CONNECT_TIMEOUT = 10_000
const DEFAULT_REQUEST_TIMEOUT = 5_000
const VERSION = '0.1.0'

/** A waiter for a PONG: a flush() caller, or null for a heartbeat probe. */
type PongWaiter = { resolve(): void; reject(err: SubwireError): void } | null

interface Handshake {
  resolve(): void
  reject(err: SubwireError): void
  transport: Transport | null
  phase: 'open' | 'info' | 'pong'
}

export class Client implements OpSink, SubscriptionOwner, Responder {
  readonly servers: readonly string[]
  readonly #options: ConnectOptions
  readonly #reconnect: Required<ReconnectOptions> | null
  readonly #maxPending: number
  #state: ClientState = CLIENT_STATE.connecting
  #serverIndex = 0
  #transport: Transport | null = null
  #info: Info | null = null
  #handshake: Handshake | null = null
  /** Ops of the current tick while connected; sent on a microtask (or inline once a chunk is full). */
  readonly #out = new OpBuffer()
  /** Publishes made while not connected, sent after subscriptions are restored. */
  readonly #offline = new OpBuffer()
  #flushScheduled = false
  readonly #subs = new Map<number, Subscription>()
  #nextSid = 1
  /** One entry per PING sent on the current connection, in order. */
  #pongs: PongWaiter[] = []
  /** flush() callers waiting for a connection to send their PING on. */
  #deferredFlushes: Array<NonNullable<PongWaiter>> = []
  readonly #requests = new Requests()
  #inbox: Subscription | null = null
  readonly #status = new StatusHub()
  readonly #decoder = new FrameDecoder({ maxOpsPerFrame: Number.MAX_SAFE_INTEGER, maxHeaders: 1024 })
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null
  #sawInbound = false
  #missedBeats = 0
  #lastBeat = 0
  #wakeSleeper: (() => void) | null = null
  #drainPromise: Promise<void> | null = null
  /** A re-authentication waiting for the server's INFO (success) or ERR `auth` (failure). */
  #reauth: { resolve(): void; reject(err: SubwireError): void; timer: ReturnType<typeof setTimeout> } | null = null
  /** Refreshes credentials shortly before they expire (when `token` is a function). */
  #refreshTimer: ReturnType<typeof setTimeout> | null = null
  /** The server's Retry-After hint from the last refused handshake, in ms. */
  #retryAfterMs: number | null = null
  #closedResolve!: (v: void | Error) => void
  /** Resolves when the client is closed: undefined after close(), the error if it gave up. */
  readonly closed: Promise<void | Error>
  /**
   * Topic management: `add`, `update`, `info`, `list`, `delete`, `purge`.
   * @example await c.topics.add({ name: 'orders', subjects: ['orders.>'], maxMsgs: 100_000 })
   */
  readonly topics: TopicsApi = new TopicsApi(async (subject, body) => (await this.request(subject, body, { timeout: DEFAULT_REQUEST_TIMEOUT })).data)

  constructor(servers: string | string[], options: ConnectOptions = {}) {
    this.servers = Object.freeze(Array.isArray(servers) ? [...servers] : [servers])
    if (this.servers.length === 0) throw new SubwireError('bad_option', 'connect() needs at least one server URL')
    this.#options = { ...options }
    this.#reconnect = options.reconnect === false ? null : reconnectConfig(options.reconnect)
    this.#maxPending = options.maxPendingBytes ?? DEFAULT_MAX_PENDING
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
    return this.servers[this.#serverIndex]
  }

  /** Bytes written by this client and not yet sent (for publishers that pace themselves). */
  get pendingBytes(): number {
    return this.#out.size + this.#offline.size + (this.#transport?.bufferedAmount ?? 0)
  }

  /**
   * Publishes a message. Synchronous: the op is coalesced with the tick's others into one frame.
   * @throws SubwireError `bad_subject`, `max_payload`, `bad_payload`, `disconnected_buffer_full`, `connection_closed`
   * @example c.publish('orders.eu.created', { id: 7 }, { headers: { trace: 'abc' } })
   */
  publish(subject: string, data?: unknown, options?: PublishOptions): void {
    this.#publish(0, subject, data, options?.reply, options?.headers)
  }

  /**
   * The last subject published to and the limit it was checked against: a publisher usually repeats a
   * subject, and checking it again was 9 % of a publishing client's CPU (bench B).
   */
  #validSubject: string | null = null
  #validSubjectMax = 0

  #publish(flags: number, subject: string, data: unknown, reply: string | null | undefined, headers: Record<string, string> | undefined): void {
    if (this.#state === CLIENT_STATE.closed) throw new SubwireError('connection_closed', 'the client is closed')
    const maxSubject = this.#info?.maxSubjectLength ?? DEFAULT_LIMITS.maxSubjectLength
    if (subject !== this.#validSubject || maxSubject !== this.#validSubjectMax) {
      const problem = subjectProblem(subject, false, maxSubject)
      if (problem !== null) throw new SubwireError('bad_subject', `invalid subject ${JSON.stringify(subject)}: ${problem}`)
      this.#validSubject = subject
      this.#validSubjectMax = maxSubject
    }
    if (reply != null) assertSubject(reply, maxSubject)
    const payload = encodePayload(data)
    const headerBytes = headers === undefined ? 0 : encodedHeadersSize(headers)
    const maxPayload = this.#info?.maxPayload ?? DEFAULT_LIMITS.maxPayload
    if (payload.bytes.length + headerBytes > maxPayload) {
      throw new SubwireError('max_payload', `payload of ${payload.bytes.length + headerBytes} bytes exceeds the maximum of ${maxPayload}`)
    }
    if (this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining) {
      const out = this.#out
      out.begin()
      writePub(out.writer, flags, subject, reply, headers, payload.encoding, payload.bytes)
      out.end()
      this.#scheduleFlush()
      return
    }
    const off = this.#offline
    off.begin()
    writePub(off.writer, flags, subject, reply, headers, payload.encoding, payload.bytes)
    if (off.size > this.#maxPending) {
      off.rollback()
      throw new SubwireError('disconnected_buffer_full', `more than ${this.#maxPending} bytes of publishes are waiting for the connection`)
    }
    off.end()
  }

  /**
   * Publishes to a topic and resolves once the broker stored it (a publisher confirm).
   * @throws SubwireError `no_topic`, `topic_full`, `wrong_last_seq`, `max_payload`, `timeout`
   * @example const { seq, duplicate } = await c.publishAck('orders.eu.1', order, { msgId: order.id })
   */
  async publishAck(subject: string, data?: unknown, options: { msgId?: string; expectedLastSeq?: number; headers?: Record<string, string>; timeout?: number } = {}): Promise<{ topic: string; seq: number; duplicate: boolean }> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) }
    if (options.msgId !== undefined) headers[HEADER.msgId] = options.msgId
    if (options.expectedLastSeq !== undefined) headers[HEADER.expectedLastSeq] = String(options.expectedLastSeq)
    this.#ensureInbox()
    const { reply, answer } = this.#requests.create(subject, options.timeout ?? DEFAULT_REQUEST_TIMEOUT)
    try {
      this.#publish(PUB_FLAG.ack, subject, data, reply, Object.keys(headers).length === 0 ? undefined : headers)
    } catch (err) {
      this.#requests.cancel(reply, err as SubwireError)
    }
    return (await answer).data as { topic: string; seq: number; duplicate: boolean }
  }

  /**
   * Subscribes to a subject (wildcards allowed). Iterate the result with `for await`, or pass `callback`.
   * @throws SubwireError `bad_subject` at once for an invalid subject
   * @example for await (const m of c.subscribe('orders.*.created')) console.log(m.subject, m.data)
   */
  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    if (this.#state === CLIENT_STATE.closed) throw new SubwireError('connection_closed', 'the client is closed')
    if (this.#state === CLIENT_STATE.draining) throw new SubwireError('draining', 'the client is draining')
    assertPattern(subject, this.#info?.maxSubjectLength ?? DEFAULT_LIMITS.maxSubjectLength)
    if (options.queue !== undefined && (typeof options.queue !== 'string' || options.queue === '' || /[\s\x00-\x1f]/.test(options.queue))) {
      throw new SubwireError('bad_option', `invalid queue group name ${JSON.stringify(options.queue)}`)
    }
    if (options.max !== undefined && !(Number.isSafeInteger(options.max) && options.max > 0)) {
      throw new SubwireError('bad_option', `max must be a positive integer, got ${String(options.max)}`)
    }
    const sub = new Subscription(this, this.#nextSid++, subject, options)
    this.#subs.set(sub.sid, sub)
    if (this.#state === CLIENT_STATE.connected) {
      this.#writeSub(sub)
      this.#scheduleFlush()
    }
    return sub
  }

  /**
   * Sends a request and waits for the first reply.
   * @throws SubwireError `no_responders` at once when nothing listens, `timeout` when no reply comes in time
   * @example const r = await c.request('time.now', null, { timeout: 1000 }); console.log(r.data)
   */
  async request(subject: string, data?: unknown, options: RequestOptions = {}): Promise<Msg> {
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
    this.#ensureInbox()
    const { reply, answer } = this.#requests.create(subject, timeout)
    try {
      this.#publish(PUB_FLAG.request, subject, data, reply, options.headers)
    } catch (err) {
      this.#requests.cancel(reply, err as SubwireError)
    }
    return answer
  }

  /**
   * Resolves once the server has processed everything this client sent before the call (a PING round trip).
   * While disconnected it waits for the reconnect.
   */
  flush(): Promise<void> {
    if (this.#state === CLIENT_STATE.closed) return Promise.reject(new SubwireError('connection_closed', 'the client is closed'))
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject }
      if (this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining) this.#sendPing(waiter)
      else this.#deferredFlushes.push(waiter)
    })
  }

  /**
   * Presents fresh credentials on the live connection (the `token` function is called again), without
   * dropping it or any subscription. Done automatically shortly before credentials expire.
   * @throws SubwireError `auth_failed` when refused (the old credentials stay valid until they expire)
   * @example await c.reauthenticate()
   */
  async reauthenticate(): Promise<void> {
    if (this.#state !== CLIENT_STATE.connected) throw new SubwireError('disconnected', 'not connected')
    if (this.#reauth !== null) throw new SubwireError('auth_failed', 'a re-authentication is already in progress')
    const body = await this.#credentials()
    if (this.#state !== CLIENT_STATE.connected) throw new SubwireError('disconnected', 'not connected')
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.#settleReauth(new SubwireError('timeout', 'no answer to re-authentication')), this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT)
      this.#reauth = { resolve, reject, timer }
      this.#out.begin()
      writeBodyOp(this.#out.writer, OP.AUTH, body)
      this.#out.end()
      this.#scheduleFlush()
    })
  }

  #settleReauth(err: SubwireError | null): void {
    const pending = this.#reauth
    if (pending === null) return
    this.#reauth = null
    clearTimeout(pending.timer)
    if (err === null) pending.resolve()
    else pending.reject(err)
  }

  /** Credentials for CONNECT or AUTH; a `token` function is called every time. */
  async #credentials(): Promise<Pick<ConnectInfo, 'token' | 'user' | 'password'>> {
    const body: Pick<ConnectInfo, 'token' | 'user' | 'password'> = {}
    const t = this.#options.token
    try {
      const token = typeof t === 'function' ? await t() : t
      if (token !== undefined) body.token = token
    } catch (cause) {
      throw new SubwireError('auth_failed', 'the token function failed', { cause })
    }
    if (this.#options.user !== undefined) body.user = this.#options.user
    if (this.#options.password !== undefined) body.password = this.#options.password
    return body
  }

  /** Schedules a refresh a little before `expiresAt` (20% of the lifetime left, between 1 s and 60 s early). */
  #scheduleRefresh(expiresAt: unknown): void {
    if (this.#refreshTimer !== null) { clearTimeout(this.#refreshTimer); this.#refreshTimer = null }
    if (typeof expiresAt !== 'number' || typeof this.#options.token !== 'function') return
    const left = expiresAt - Date.now()
    const wait = Math.max(0, left - Math.min(60_000, Math.max(1000, left * 0.2)))
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null
      this.reauthenticate().catch((err: unknown) => this.reportError(err instanceof SubwireError ? err : new SubwireError('auth_failed', String(err))))
    }, Math.min(wait, 2 ** 31 - 1))
    const timer = this.#refreshTimer as { unref?: () => void }
    timer.unref?.()
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
      for (const sub of this.#subs.values()) this.#writeUnsub(sub.sid)
      await this.flush().catch(() => undefined)
    }
    for (const sub of [...this.#subs.values()]) this.#endSubscription(sub, null)
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
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    if (this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining) {
      this.#writeUnsub(sid)
      this.#scheduleFlush()
    }
    this.#endSubscription(sub, null)
  }

  async drainSid(sid: number): Promise<void> {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    if (this.#state === CLIENT_STATE.connected || this.#state === CLIENT_STATE.draining) {
      this.#writeUnsub(sid)
      this.#scheduleFlush()
      await this.flush().catch(() => undefined)
    }
    this.#endSubscription(sub, null)
  }

  /** Settles a work-queue message (Msg.ack/nak/working/term). While disconnected it is dropped: the broker redelivers. */
  settle(sid: number, seq: number, kind: number, delayMs?: number): void {
    if (this.#state !== CLIENT_STATE.connected && this.#state !== CLIENT_STATE.draining) return
    this.#out.begin()
    writeAck(this.#out.writer, sid, seq, kind, delayMs)
    this.#out.end()
    this.#scheduleFlush()
  }

  reportError(error: SubwireError, subject?: string): void {
    this.#status.emit(subject === undefined ? { type: 'error', error } : { type: 'error', error, subject })
  }

  // ---- writing ops --------------------------------------------------------------------------------------

  #writeSub(sub: Subscription): void {
    const out = this.#out
    out.begin()
    writeSub(out.writer, sub.sid, sub.subject, sub.queue, sub.resubscribeOptions(this.#info?.serverId))
    // On a resubscribe, the server learns how many messages are left before the auto-unsubscribe.
    if (sub.max !== null) writeUnsub(out.writer, sub.sid, sub.max - sub.received)
    out.end()
  }

  #writeUnsub(sid: number): void {
    this.#out.begin()
    writeUnsub(this.#out.writer, sid)
    this.#out.end()
  }

  #sendPing(waiter: PongWaiter): void {
    this.#out.begin()
    this.#out.writer.raw(PING_BYTES)
    this.#out.end()
    this.#pongs.push(waiter)
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#out.hasFullChunk) {
      // Inline flush past the chunk size: a long synchronous publish loop starts writing early.
      for (const frame of this.#out.takeFullChunks()) this.#transport?.send(frame)
    }
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    queueMicrotask(this.#flushOut)
  }

  readonly #flushOut = (): void => {
    this.#flushScheduled = false
    if (this.#state !== CLIENT_STATE.connected && this.#state !== CLIENT_STATE.draining) return
    const t = this.#transport
    if (t === null) return
    if (t.sendsSynchronously) this.#out.sendAll(t.send)
    else for (const frame of this.#out.take()) t.send(frame)
  }

  #ensureInbox(): void {
    if (this.#inbox !== null && !this.#inbox.isClosed) return
    this.#inbox = this.subscribe(this.#requests.inboxPattern, { callback: (_err, msg) => { if (msg !== null) this.#requests.onReply(msg) } })
  }

  #endSubscription(sub: Subscription, err: SubwireError | null): void {
    this.#subs.delete(sub.sid)
    sub.finish(err)
  }

  // ---- OpSink: ops from the server ------------------------------------------------------------------------

  onInfo(body: Record<string, WireValue>): void {
    const hs = this.#handshake
    if (hs === null || hs.phase !== 'info') {
      this.#info = { ...(this.#info as Info), ...(body as unknown as Info) } // a later INFO updates limits
      if ('authExpiresAt' in body) {
        // The answer to an authentication: CONNECT's (during the handshake) or AUTH's.
        this.#scheduleRefresh(body.authExpiresAt)
        this.#settleReauth(null)
      }
      return
    }
    this.#info = body as unknown as Info
    hs.phase = 'pong'
    void this.#sendConnect(hs)
  }

  async #sendConnect(hs: Handshake): Promise<void> {
    let credentials: Pick<ConnectInfo, 'token' | 'user' | 'password'>
    try {
      credentials = await this.#credentials()
    } catch (err) {
      hs.reject(err as SubwireError)
      return
    }
    const body: ConnectInfo = { protocol: PROTOCOL_VERSION, lang: 'js', version: VERSION, echo: this.#options.echo !== false, ...credentials }
    if (this.#options.name !== undefined) body.name = this.#options.name
    const w = new OpBuffer()
    writeBodyOp(w.writer, OP.CONNECT, body)
    w.writer.raw(PING_BYTES)
    for (const frame of w.take()) hs.transport?.send(frame)
  }

  onMsg(sid: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number,
    frame: Uint8Array, payloadStart: number, payloadEnd: number, seq: number, time: number, deliveryCount: number): void {
    this.#sawInbound = true
    const sub = this.#subs.get(sid)
    if (sub === undefined) return // unsubscribed while the message was on its way
    if (seq !== 0) sub.seqServer = (this.#info as Info).serverId
    const extra = reply === null && headers === null && seq === 0 ? null : { reply, headers, seq, time, deliveryCount }
    if (sub.deliver(new Msg(sub, subject, encoding, frame, payloadStart, payloadEnd, extra))) this.#endSubscription(sub, null)
  }

  /** A subscription event: reported on status() and, as an error code, to the subscription's callback. */
  onEvent(sid: number, type: string, data: Record<string, WireValue>): void {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    const n = (k: string): number => (typeof data[k] === 'number' ? data[k] as number : 0)
    if (type === 'gap') {
      this.#status.emit({ type: 'gap', subject: sub.subject, topic: typeof data.topic === 'string' ? data.topic : '', from: n('from'), to: n('to') })
      sub.notify(new SubwireError('gap', `messages ${n('from')}..${n('to')} of ${sub.subject} are no longer held`))
    } else if (type === 'slow_consumer') {
      this.#status.emit({ type: 'slow_consumer', subject: sub.subject, dropped: n('dropped'), total: n('total') })
      sub.notify(new SubwireError('slow_consumer', `${n('dropped')} messages on ${sub.subject} were dropped`))
    }
  }

  onAck(): void { throw new SubwireError('protocol', 'ACK is sent by clients') }

  onPing(): void {
    const out = this.#out
    out.begin()
    out.writer.raw(PONG_BYTES)
    out.end()
    this.#scheduleFlush()
  }

  onPong(): void {
    const hs = this.#handshake
    if (hs !== null && hs.phase === 'pong') {
      this.#handshake = null
      hs.resolve()
      return
    }
    const waiter = this.#pongs.shift()
    waiter?.resolve()
  }

  onErr(code: string, message: string, ref: string | number | null): void {
    const err = new SubwireError(isErrorCode(code) ? code : 'protocol', message)
    const hs = this.#handshake
    if (hs !== null) { hs.reject(err); return }
    if (ref === 'auth') this.#settleReauth(err)
    if (typeof ref === 'number') {
      // A refused SUB: the subscription is dead on the server, so end it here too.
      const sub = this.#subs.get(ref)
      if (sub !== undefined) { this.#endSubscription(sub, err); this.reportError(err, sub.subject); return }
    }
    this.reportError(err, typeof ref === 'string' ? ref : undefined)
  }

  onConnect(): void { throw new SubwireError('protocol', 'CONNECT is sent by clients') }
  onAuth(): void { throw new SubwireError('protocol', 'AUTH is sent by clients') }
  onPub(): void { throw new SubwireError('protocol', 'PUB is sent by clients') }
  onSub(): void { throw new SubwireError('protocol', 'SUB is sent by clients') }
  onUnsub(): void { throw new SubwireError('protocol', 'UNSUB is sent by clients') }

  // ---- connection lifecycle -----------------------------------------------------------------------------

  /** First connection: each URL once, in order; rejects with the last error if none accepts. */
  async start(): Promise<void> {
    let lastError: SubwireError = new SubwireError('connection_refused', 'no server accepted the connection')
    for (let i = 0; i < this.servers.length; i++) {
      if (this.#state === CLIENT_STATE.closed) break
      this.#serverIndex = i
      try {
        await this.#attempt(this.servers[i])
        this.#onConnected()
        return
      } catch (err) {
        lastError = err instanceof SubwireError ? err : new SubwireError('connection_refused', String(err), { cause: err })
      }
    }
    this.#shutdown(lastError)
    throw lastError
  }

  /** One connection attempt: open, INFO, CONNECT + PING, PONG. */
  #attempt(url: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT
      const timer = setTimeout(() => fail(new SubwireError('timeout', `connecting to ${url} took longer than ${timeoutMs} ms`)), timeoutMs)
      const hs: Handshake = {
        phase: 'open',
        transport: null,
        resolve: () => { if (!settled) { settled = true; clearTimeout(timer); resolve() } },
        reject: (err) => fail(err),
      }
      const fail = (err: SubwireError): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (this.#handshake === hs) this.#handshake = null
        hs.transport?.close(1000, '')
        reject(err)
      }
      this.#handshake = hs
      Transport.open(url, {
        onOpen: () => { if (hs.phase === 'open') hs.phase = 'info' },
        onFrame: (bytes) => this.#onFrame(hs.transport, bytes),
        onClose: (code, reason, error, refusal) => {
          if (!settled) {
            this.#retryAfterMs = refusal?.retryAfterMs ?? null
            fail(closeError(code, reason, error ?? `connection to ${url} closed during the handshake`, refusal))
          } else {
            this.#onTransportClose(hs.transport, code, reason, error)
          }
        },
      }, { WebSocket: this.#options.WebSocket, maxFrame: DEFAULT_LIMITS.maxFrame * 2 }).then((t) => {
        hs.transport = t
        if (settled) t.close(1000, '')
        else this.#transport = t
      }, (err: unknown) => fail(new SubwireError('connection_refused', String(err), { cause: err })))
    })
  }

  #onFrame(from: Transport | null, bytes: Uint8Array): void {
    if (from !== this.#transport) return
    this.#sawInbound = true
    try {
      this.#decoder.decode(bytes, this)
    } catch (err) {
      const error = err instanceof SubwireError ? err : new SubwireError('protocol', 'failed to handle a frame from the server', { cause: err })
      this.reportError(error)
      this.#transport?.close(CLOSE_CODE.protocol, 'protocol')
    }
  }

  /** After a handshake: subscriptions first (one write), then the offline buffer, then deferred flushes. */
  #onConnected(): void {
    this.#state = CLIENT_STATE.connected
    this.#pongs = []
    for (const sub of this.#subs.values()) this.#writeSub(sub)
    this.#out.append(this.#offline)
    const deferred = this.#deferredFlushes
    this.#deferredFlushes = []
    for (const waiter of deferred) this.#sendPing(waiter)
    this.#scheduleFlush()
    this.#startHeartbeat()
  }

  #onTransportClose(from: Transport | null, code: number, reason: string, error: string | null): void {
    if (from !== this.#transport) return
    this.#transport = null
    this.#stopHeartbeat()
    this.#scheduleRefresh(null)
    this.#settleReauth(new SubwireError('disconnected', 'the connection was lost during re-authentication'))
    // PINGs sent on the lost connection will never be answered: flush() callers wait for the next one.
    for (const waiter of this.#pongs) if (waiter !== null) this.#deferredFlushes.push(waiter)
    this.#pongs = []
    // Ops of this tick that never reached the socket: keep the publishes, the rest is rebuilt on reconnect.
    this.#out.take()
    if (this.#state === CLIENT_STATE.closed) return
    const err = code === 1000 ? null : closeError(code, reason, error)
    this.#status.emit({ type: 'disconnect', server: this.server, code, error: err })
    if (this.#reconnect === null || this.#state === CLIENT_STATE.draining) {
      this.#shutdown(err ?? new SubwireError('connection_closed', 'the server closed the connection'))
      return
    }
    this.#state = CLIENT_STATE.reconnecting
    void this.#reconnectLoop(paceForClose(code))
  }

  async #reconnectLoop(pace: ReconnectPace): Promise<void> {
    const policy = this.#reconnect as Required<ReconnectOptions>
    let lastError: SubwireError | null = null
    for (let attempt = 0; this.#state === CLIENT_STATE.reconnecting; attempt++) {
      if (attempt >= policy.maxAttempts) {
        this.#shutdown(lastError ?? new SubwireError('connection_closed', `gave up after ${attempt} reconnect attempts`))
        return
      }
      // Every attempt moves on to the next URL: a server that just failed is the least likely to answer.
      this.#serverIndex = (this.#serverIndex + 1) % this.servers.length
      // A server that refused us with Retry-After is obeyed, with up to 50% jitter so a fleet spreads out.
      const hint = this.#retryAfterMs
      this.#retryAfterMs = null
      const delayMs = Math.max(backoffDelay(attempt, policy, pace), hint === null ? 0 : Math.floor(hint * (1 + Math.random() * 0.5)))
      this.#status.emit({ type: 'reconnecting', server: this.server, attempt: attempt + 1, delayMs })
      await this.#sleep(delayMs)
      if (this.#state !== CLIENT_STATE.reconnecting) return
      try {
        await this.#attempt(this.server)
        if (this.#state !== CLIENT_STATE.reconnecting) return
        this.#onConnected()
        this.#status.emit({ type: 'reconnect', server: this.server })
        return
      } catch (err) {
        lastError = err instanceof SubwireError ? err : new SubwireError('connection_refused', String(err))
        this.#status.emit({ type: 'error', error: lastError })
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#wakeSleeper = null; resolve() }, ms)
      this.#wakeSleeper = () => { clearTimeout(timer); this.#wakeSleeper = null; resolve() }
    })
  }

  // ---- heartbeat ----------------------------------------------------------------------------------------

  #startHeartbeat(): void {
    this.#stopHeartbeat()
    const interval = this.#info?.heartbeatMs ?? DEFAULT_LIMITS.heartbeatMs
    this.#sawInbound = true
    this.#missedBeats = 0
    this.#lastBeat = Date.now()
    this.#heartbeatTimer = setInterval(() => this.#onBeat(interval), interval)
    const timer = this.#heartbeatTimer as { unref?: () => void }
    timer.unref?.()
  }

  #stopHeartbeat(): void {
    if (this.#heartbeatTimer !== null) { clearInterval(this.#heartbeatTimer); this.#heartbeatTimer = null }
  }

  /**
   * The server PINGs every interval, so two silent intervals mean it is gone. A timer that fired late
   * (a background tab throttles timers, WHAT_USERS_ASK 12) convicts nobody: it only probes.
   */
  #onBeat(interval: number): void {
    const now = Date.now()
    const late = now - this.#lastBeat > interval * 1.5
    this.#lastBeat = now
    if (this.#sawInbound) {
      this.#sawInbound = false
      this.#missedBeats = 0
    } else if (late) {
      this.#missedBeats = 0
    } else if (++this.#missedBeats >= 2) {
      this.#status.emit({ type: 'stale', server: this.server })
      this.#transport?.close(CLOSE_CODE.stale, 'stale_connection')
      return
    }
    this.#sendPing(null)
  }

  // ---- closing ------------------------------------------------------------------------------------------

  #shutdown(error: Error | null): void {
    if (this.#state === CLIENT_STATE.closed) return
    this.#state = CLIENT_STATE.closed
    this.#stopHeartbeat()
    this.#scheduleRefresh(null)
    this.#settleReauth(new SubwireError('connection_closed', 'the client was closed'))
    this.#wakeSleeper?.()
    const t = this.#transport
    this.#transport = null
    t?.close(1000, '')
    this.#handshake?.reject(new SubwireError('connection_closed', 'the client was closed'))
    const closedErr = new SubwireError('connection_closed', 'the client is closed')
    this.#requests.rejectAll(closedErr)
    for (const w of this.#pongs) w?.reject(closedErr)
    for (const w of this.#deferredFlushes) w.reject(closedErr)
    this.#pongs = []
    this.#deferredFlushes = []
    for (const sub of [...this.#subs.values()]) this.#endSubscription(sub, null)
    this.#offline.take()
    this.#status.emit({ type: 'close', error })
    this.#status.end()
    this.#closedResolve(error ?? undefined)
  }
}

/** The typed error a close stands for: our close codes and reasons name their error code (PROTOCOL §7). */
const CODE_FOR_STATUS: Record<number, ErrorCode> = { 400: 'bad_subprotocol', 401: 'auth_failed', 403: 'bad_origin', 429: 'limit', 503: 'limit' }

function closeError(code: number, reason: string, detail: string | null, refusal: HandshakeRefusal | null = null): SubwireError {
  detail ??= `connection closed with code ${code}`
  if (refusal !== null) {
    const errorCode = isErrorCode(refusal.code) ? refusal.code : CODE_FOR_STATUS[refusal.status] ?? 'connection_refused'
    return new SubwireError(errorCode, detail)
  }
  const fromReason: ErrorCode | undefined = isErrorCode(reason) ? reason : undefined
  const errorCode = fromReason ?? errorCodeForClose(code) ?? 'connection_refused'
  return new SubwireError(errorCode, reason !== '' && fromReason === undefined ? `${detail}: ${reason}` : detail, { closeCode: code })
}

/**
 * Connects to a subwire broker. With several URLs, each is tried in turn; later reconnects rotate through them.
 * @throws SubwireError the last error seen (`connection_refused`, `auth_failed`, `timeout`, …) if none accepts
 * @example
 * const c = await connect('ws://127.0.0.1:4480/', { name: 'orders-service' })
 */
export async function connect(servers: string | string[], options: ConnectOptions = {}): Promise<Client> {
  const client = new Client(servers, options)
  await client.start()
  return client
}
