/**
 * The tab's side of `connect(url, { shared: true })`: the client API, spoken over a port to the SharedWorker
 * that holds the one connection (shared-connection.ts). Subscriptions are real `Subscription`s and messages
 * real `Msg`s (decoded lazily here), so callbacks, `for await`, `max`, `maxPending`, `respond` and `ack` work as
 * on a connection of the tab's own. Payloads are encoded here, and the checks a Client makes at once run here,
 * synchronously (subjects, options, headers, `max_payload` against the last INFO); what only the worker's
 * client can find (its offline buffer full) is reported on `status()` as an `error` event, since `publish`
 * cannot wait for the worker.
 */
import { SubwireError } from '../../shared/errors.ts'
import { DEFAULT_LIMITS, type Info } from '../../shared/protocol.ts'
import { assertPattern, assertSubject } from '../../shared/subject.ts'
import { CLIENT_STATE, type ClientState } from '../client-state.ts'
import { encodedHeadersSize } from '../headers-size.ts'
import { Msg, type MsgSource } from '../message.ts'
import { DEFAULT_REQUEST_TIMEOUT, type PublishOptions, type RequestOptions } from '../options.ts'
import { StatusHub, type Status } from '../status.ts'
import { Subscription, type DropReporter, type SubscribeOptions, type SubscriptionOwner } from '../subscription.ts'
import { TopicsApi } from '../topics.ts'
import type { Client } from '../client.ts'
import type { SchemaOptions, Untyped } from '../typed.ts'
import { screen, type Validate } from '../validate.ts'
import { fromWire, statusFromWire, toWire, toWirePayload, type PortLike, type WirePayload, type TabToWorker, type WireMsg, type WorkerToTab } from './wire.ts'

/**
 * What a shared client offers: the `Client` API (typed by the same subject schema, client/typed.ts) but for
 * `reauthenticate()` (the worker's connection refreshes its token through the tabs by itself) and
 * `pendingBytes` (the bytes wait in the worker).
 */
export type SharedClient<S extends object = Untyped, O extends SchemaOptions = {}> = Pick<Client<S, O>,
  'servers' | 'state' | 'isClosed' | 'info' | 'server' | 'closed' | 'topics' | 'publish' | 'publishAck' | 'subscribe' |
  'request' | 'flush' | 'status' | 'drain' | 'close'>

interface Call { resolve(r: { value: unknown; msg: WireMsg | null }): void; reject(err: SubwireError): void }

/**
 * How a tab notices that its worker died: the worker pings every tab a third of `timeoutMs` apart, so a tab that
 * hears nothing for `timeoutMs` takes it for gone (its process crashed: Chrome may host a shared worker in a tab's
 * process) and `reopen`s a SharedWorker, which starts a new one, and joins it.
 */
export interface WorkerWatch {
  timeoutMs: number
  reopen(): PortLike
}

/** A tab's handle on the shared connection. */
export class TabClient implements SharedClient, SubscriptionOwner, DropReporter {
  readonly servers: readonly string[]
  #port: PortLike
  readonly #watch: WorkerWatch | null
  #watchdog: ReturnType<typeof setInterval> | null = null
  #lastHeard = Date.now()
  readonly #subs = new Map<number, Subscription>()
  readonly #calls = new Map<number, Call>()
  readonly #status = new StatusHub()
  readonly #token: (() => string | Promise<string>) | null
  /** `validate` runs here, in the tab: a function cannot cross to the worker, and each tab has its own. */
  readonly #validate: Validate | null
  readonly #replySource: MsgSource = { sid: 0, responder: this }
  #nextSid = 1
  #nextId = 1
  #state: ClientState = CLIENT_STATE.connecting
  #info: Info | null = null
  #server: string
  #drainPromise: Promise<void> | null = null
  #ready: { resolve(): void; reject(err: SubwireError): void } | null = null
  #hello: Extract<TabToWorker, { t: 'hello' }> | null = null
  #rejoining = false
  #closedResolve!: (v: void | Error) => void
  readonly closed: Promise<void | Error>
  // The topic API's answers are the broker's, not application data: never passed to validate (as on a Client).
  readonly topics: TopicsApi = new TopicsApi(async (subject, body) => (await this.#request(subject, body, { timeout: DEFAULT_REQUEST_TIMEOUT }, false)).data)

  constructor(servers: readonly string[], port: PortLike, token: (() => string | Promise<string>) | null, validate: Validate | null = null, watch: WorkerWatch | null = null) {
    this.servers = servers
    this.#server = servers[0]
    this.#port = port
    this.#token = token
    this.#validate = validate
    this.#watch = watch
    this.closed = new Promise((resolve) => { this.#closedResolve = resolve })
    this.#listen(port)
    if (watch !== null) {
      this.#watchdog = setInterval(() => this.#checkWorker(watch), Math.max(50, Math.floor(watch.timeoutMs / 2)))
      ;(this.#watchdog as { unref?: () => void }).unref?.()
    }
  }

  #listen(port: PortLike): void {
    port.onmessage = (ev: MessageEvent) => { this.#lastHeard = Date.now(); this.#onMessage(ev.data as WorkerToTab) }
    port.start?.()
  }

  /** The worker said nothing for `timeoutMs`: a new one is started and joined, the subscriptions made again. */
  #checkWorker(watch: WorkerWatch): void {
    if (this.isClosed || this.#ready !== null || Date.now() - this.#lastHeard <= watch.timeoutMs) return
    const old = this.#port
    old.onmessage = null
    // The worker may be alive after all (this page was frozen a while): goodbye, so it lets go of this port's
    // subscriptions now; a queue-group member left there would take its share of the messages, lost.
    try { old.postMessage({ t: 'bye' } satisfies TabToWorker); old.close() } catch { /* already gone */ }
    try {
      this.#port = watch.reopen()
    } catch (err) {
      this.#shutdown(new SubwireError('connection_closed', 'the shared worker stopped and could not be started again', { cause: err }))
      return
    }
    this.#listen(this.#port)
    this.#lastHeard = Date.now()
    const lost = new SubwireError('disconnected', 'the shared worker stopped')
    for (const call of this.#calls.values()) call.reject(lost)
    this.#calls.clear()
    this.#status.emit({ type: 'disconnect', server: this.#server, code: 1006, error: lost })
    this.#rejoining = true
    if (this.#hello !== null) this.#post(this.#hello)
  }

  /** Says hello and waits for the shared connection. */
  start(hello: Extract<TabToWorker, { t: 'hello' }>): Promise<void> {
    this.#hello = hello
    return new Promise<void>((resolve, reject) => {
      this.#ready = { resolve, reject }
      this.#post(hello)
    })
  }

  get state(): ClientState { return this.#state }
  get isClosed(): boolean { return this.#state === CLIENT_STATE.closed }
  get info(): Info | null { return this.#info }
  get server(): string { return this.#server }

  publish(subject: string, data?: unknown, options?: PublishOptions): void {
    this.#open()
    assertSubject(subject, this.#maxSubject)
    if (options?.reply !== undefined) assertSubject(options.reply, this.#maxSubject)
    this.#post({ t: 'pub', subject, data: this.#payload(data, options?.headers), reply: options?.reply, headers: options?.headers })
  }

  /**
   * Encodes `data` here, and refuses at once what a connection of the tab's own refuses at once: headers that
   * are not strings (`bad_payload`), data and headers past the broker's `maxPayload` (`max_payload`).
   */
  #payload(data: unknown, headers: Record<string, string> | undefined): WirePayload {
    const payload = toWirePayload(data)
    const size = payload.bytes.length + (headers === undefined ? 0 : encodedHeadersSize(headers))
    const max = this.#info?.maxPayload ?? DEFAULT_LIMITS.maxPayload
    if (size > max) throw new SubwireError('max_payload', `payload of ${size} bytes exceeds the maximum of ${max}`)
    return payload
  }

  async publishAck(subject: string, data?: unknown, options: { msgId?: string; expectedLastSeq?: number; headers?: Record<string, string>; timeout?: number } = {}): Promise<{ topic: string; seq: number; duplicate: boolean }> {
    this.#open()
    assertSubject(subject, this.#maxSubject)
    const payload = this.#payload(data, options.headers)
    const { value } = await this.#call((id) => ({ t: 'publishAck', id, subject, data: payload, options }))
    return value as { topic: string; seq: number; duplicate: boolean }
  }

  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    this.#open()
    if (this.#drainPromise !== null) throw new SubwireError('draining', 'the client is draining')
    assertPattern(subject, this.#maxSubject)
    if (options.queue !== undefined && (typeof options.queue !== 'string' || options.queue === '' || /[\s\x00-\x1f]/.test(options.queue))) {
      throw new SubwireError('bad_option', `invalid queue group name ${JSON.stringify(options.queue)}`)
    }
    if (options.max !== undefined && !(Number.isSafeInteger(options.max) && options.max > 0)) {
      throw new SubwireError('bad_option', `max must be a positive integer, got ${String(options.max)}`)
    }
    const sub = new Subscription(this, this, this.#nextSid++, subject, options)
    this.#subs.set(sub.sid, sub)
    this.#sendSub(sub)
    return sub
  }

  #sendSub(sub: Subscription): void {
    const s: Extract<TabToWorker, { t: 'sub' }>['sub'] = { subject: sub.subject }
    if (sub.queue !== null) s.queue = sub.queue
    const options = sub.resubscribeOptions(this.#info?.serverId) // made again: a replay resumes after what it had
    if (options !== null) s.options = options
    this.#post({ t: 'sub', sid: sub.sid, sub: s })
  }

  request(subject: string, data?: unknown, options: RequestOptions = {}): Promise<Msg> {
    return this.#request(subject, data, options, true)
  }

  async #request(subject: string, data: unknown, options: RequestOptions, check: boolean): Promise<Msg> {
    this.#open()
    assertSubject(subject, this.#maxSubject)
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
    const payload = this.#payload(data, options.headers)
    const { msg } = await this.#call((id) => ({ t: 'request', id, subject, data: payload, timeout, headers: options.headers }))
    if (msg === null) throw new SubwireError('protocol', 'the worker answered a request without its reply')
    const reply = this.#toMsg(this.#replySource, msg)
    const refused = this.#validate === null || !check ? null : screen(this.#validate, subject, reply, 'reply')
    if (refused === null) return reply
    this.#status.emit({ type: 'invalid', subject, error: refused })
    throw refused
  }

  flush(): Promise<void> {
    if (this.isClosed) return Promise.reject(new SubwireError('connection_closed', 'the client is closed'))
    return this.#call((id) => ({ t: 'flush', id })).then(() => undefined)
  }

  status(): AsyncIterableIterator<Status> {
    return this.#status.listen()
  }

  /** Unsubscribes this tab's subscriptions after the messages already on their way, then closes this handle. */
  drain(): Promise<void> {
    if (this.isClosed) return Promise.resolve()
    return (this.#drainPromise ??= (async () => {
      await Promise.all([...this.#subs.values()].map((s) => s.drain().catch(() => undefined)))
      await this.flush().catch(() => undefined)
      await this.close()
    })())
  }

  /** Closes this tab's handle: its subscriptions are given up; the shared connection stays for other tabs. */
  async close(): Promise<void> {
    this.#shutdown(null)
    await this.closed
  }

  /** The page is going away (pagehide): the worker forgets this tab now rather than at its liveness timeout. */
  bye(): void {
    this.#post({ t: 'bye' })
  }

  /** The page came back (from the back/forward cache): the worker takes it back, and asks for its subscriptions. */
  back(): void {
    this.#lastHeard = Date.now() // the worker's pings could not be heard while the page was frozen
    this.#post({ t: 'pong' })
  }

  /** The page became visible or went online: the worker checks its connection at once. */
  check(): void {
    this.#post({ t: 'check' })
  }

  // ---- SubscriptionOwner, DropReporter ------------------------------------------------------------------

  unsubscribeSid(sid: number): void {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    this.#subs.delete(sid)
    this.#post({ t: 'unsub', sid })
    sub.finish()
  }

  async drainSid(sid: number): Promise<void> {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    await this.#call((id) => ({ t: 'drain', sid, id })).catch(() => undefined)
    this.#subs.delete(sid)
    sub.finish()
  }

  reportError(error: SubwireError, subject?: string): void {
    this.#status.emit(subject === undefined ? { type: 'error', error } : { type: 'error', error, subject })
  }

  settle(sid: number, seq: number, kind: number, delayMs?: number): void {
    if (!this.isClosed) this.#post({ t: 'settle', sid, seq, kind, delayMs })
  }

  /** The `validate` hook on a message for `sub`: refused, it is reported and not delivered (as on a Client). */
  refuses(sub: Subscription, msg: Msg): boolean {
    if (this.#validate === null) return false
    const refused = screen(this.#validate, msg.subject, msg, 'message')
    if (refused === null) return false
    this.#status.emit({ type: 'invalid', subject: msg.subject, error: refused })
    sub.notify(refused)
    return true
  }

  slowConsumer(sub: Subscription, dropped: number): void {
    this.#status.emit({ type: 'slow_consumer', sid: sub.sid, subject: sub.subject, dropped, total: sub.dropped, source: 'client' })
  }

  // ---- from the worker ----------------------------------------------------------------------------------

  #onMessage(m: WorkerToTab): void {
    switch (m.t) {
      case 'msgs':
        for (const w of m.batch) for (const sid of w[0]) this.#deliver(sid, w)
        this.#post({ t: 'took', bytes: m.bytes })
        return
      case 'done': case 'fail': {
        const call = this.#calls.get(m.id)
        this.#calls.delete(m.id)
        if (m.t === 'done') call?.resolve(m)
        else call?.reject(fromWire(m.error))
        return
      }
      case 'ready':
        this.#setState(m.state, m.server, m.info)
        if (this.#ready === null) { this.#rejoining = false; this.#revive() } // a rejoin: a new shared connection
        this.#ready?.resolve()
        this.#ready = null
        return
      case 'failed':
        if (this.#ready === null) this.#shutdown(fromWire(m.error))
        this.#ready?.reject(fromWire(m.error))
        this.#ready = null
        return
      case 'rejoin':
        if (this.#hello !== null && this.#ready === null && !this.#rejoining) { this.#rejoining = true; this.#post(this.#hello) }
        return
      case 'state':
        if (m.state === CLIENT_STATE.closed) this.#shutdown(new SubwireError('connection_closed', 'the shared connection closed'))
        else this.#setState(m.state, m.server, m.info)
        return
      case 'subEnd': {
        const sub = this.#subs.get(m.sid)
        this.#subs.delete(m.sid)
        if (sub === undefined) return
        const err = m.error === null ? null : fromWire(m.error)
        if (err !== null && err.code !== 'connection_closed') this.reportError(err, sub.subject)
        sub.finish(err)
        return
      }
      case 'subEvent': this.#subs.get(m.sid)?.notify(fromWire(m.error)); return
      case 'status': this.#status.emit(statusFromWire(m.status)); return
      case 'tokenPlease': void this.#answerToken(m.id); return
      case 'ping': this.#post({ t: 'pong' }); return
      case 'revive': this.#revive(); return
      default: {
        // A worker of another version of this code (still running from an earlier deploy): ignored.
        const unknown: never = m
        void unknown
      }
    }
  }

  /** The worker had given this tab up: its subscriptions are made again (what came meanwhile is lost). */
  #revive(): void {
    for (const sub of this.#subs.values()) this.#sendSub(sub)
    this.#status.emit({ type: 'reconnect', server: this.#server })
  }

  #deliver(sid: number, w: WireMsg): void {
    const sub = this.#subs.get(sid)
    if (sub === undefined) return
    if (w[6] !== 0) sub.seqServer = this.#info?.serverId ?? ''
    if (sub.deliver(this.#toMsg(sub, w), w[5])) this.unsubscribeSid(sid)
  }

  #toMsg(source: MsgSource, w: WireMsg): Msg {
    const [, subject, reply, headers, encoding, payload, seq, time, deliveryCount] = w
    const extra = reply === null && headers === null && seq === 0 ? null : { reply, headers, seq, time, deliveryCount }
    return new Msg(source, subject, encoding, payload, 0, payload.length, extra)
  }

  async #answerToken(id: number): Promise<void> {
    try {
      if (this.#token === null) throw new SubwireError('auth_failed', 'this tab has no token function')
      this.#post({ t: 'token', id, token: await this.#token(), error: null })
    } catch (err) {
      this.#post({ t: 'token', id, token: null, error: toWire(err) })
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------------------

  get #maxSubject(): number {
    return this.#info?.maxSubjectLength ?? DEFAULT_LIMITS.maxSubjectLength
  }

  #open(): void {
    if (this.isClosed) throw new SubwireError('connection_closed', 'the client is closed')
  }

  #setState(state: ClientState, server: string, info: Info | null): void {
    this.#state = state
    this.#server = server
    this.#info = info
  }

  #post(m: TabToWorker): void {
    try {
      this.#port.postMessage(m)
    } catch (err) {
      // Data that structured clone cannot copy (a function, a class instance with private state).
      throw new SubwireError('bad_payload', 'this data cannot be sent to the shared worker (structured clone refused it)', { cause: err })
    }
  }

  #call(make: (id: number) => TabToWorker): Promise<{ value: unknown; msg: WireMsg | null }> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++
      this.#calls.set(id, { resolve, reject })
      try {
        this.#post(make(id))
      } catch (err) {
        this.#calls.delete(id)
        reject(err)
      }
    })
  }

  #shutdown(error: Error | null): void {
    if (this.#state === CLIENT_STATE.closed) return
    this.#state = CLIENT_STATE.closed
    if (this.#watchdog !== null) { clearInterval(this.#watchdog); this.#watchdog = null }
    try { this.#port.postMessage({ t: 'bye' } satisfies TabToWorker) } catch { /* the worker is gone already */ }
    const closedErr = new SubwireError('connection_closed', 'the client is closed')
    for (const call of this.#calls.values()) call.reject(closedErr)
    this.#calls.clear()
    this.#ready?.reject(closedErr)
    for (const sub of this.#subs.values()) sub.finish()
    this.#subs.clear()
    this.#status.emit({ type: 'close', error })
    this.#status.end()
    this.#port.close()
    this.#closedResolve(error ?? undefined)
  }
}
