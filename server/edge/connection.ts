/**
 * One client connection: the handshake state machine, decoding of inbound frames, and dispatch of each op
 * to the router or to this connection's subscriptions. Everything it sends goes through its outbound queue.
 *
 * States (PROTOCOL §4.2): awaiting_connect → open → closing → closed. Before CONNECT only CONNECT is accepted.
 */
import type { WebSocket, RawData } from 'ws'
import type { Logger } from 'pino'
import { decodeJsonFrame, isJsonText, type FrameDecoder, type OpSink, type DecodeLimits } from '../../shared/codec.ts'
import { CLOSE_CODE_FOR, SubwireError, type ErrorCode } from '../../shared/errors.ts'
import { CLOSE_CODE, ENCODING, PROTOCOL_VERSION, SUBPROTOCOL, type Subprotocol } from '../../shared/protocol.ts'
import { quoteSubject, subjectProblem } from '../../shared/subject.ts'
import type { WireValue } from '../../shared/msgpack.ts'
import { BinaryOutbound } from '../outbound/binary-outbound.ts'
import { JsonOutbound } from '../outbound/json-outbound.ts'
import type { FlushScheduler, Outbound, OutboundEvents } from '../outbound/outbound-queue.ts'
import { payloadOfTail, type Delivery } from '../outbound/delivery.ts'
import type { Router } from '../routing/router.ts'
import type { BrokerConfig } from '../options.ts'
import type { ConnectionSummary } from './broker-events.ts'
import { ServerSubscription } from '../routing/subscription.ts'
import type { Authenticator, Credentials, Identity } from '../security/auth.ts'
import type { InboxRegistry } from '../security/inbox-registry.ts'
import { Session } from '../security/session.ts'
import { HeldMessages } from '../outbound/held-messages.ts'
import type { TopicReceiver, Topics } from '../topics/topics.ts'
import type { StoredMessage } from '../store/topic-store.ts'
import { asSubwireError, isTopicApi, topicApi, wantsConfirm, type BrokerReply } from '../topics/topic-intake.ts'
import { parseSubOptions } from '../topics/sub-options.ts'
import { TokenBucket } from './rate-limit.ts'
import type { IncomingMessage } from 'node:http'

export const CONN_STATE = {
  awaitingConnect: 'awaiting_connect',
  /** CONNECT received; credentials being checked. Inbound frames wait (bounded). */
  authenticating: 'authenticating',
  open: 'open',
  closing: 'closing',
  closed: 'closed',
} as const
export type ConnState = (typeof CONN_STATE)[keyof typeof CONN_STATE]

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost {
  readonly config: BrokerConfig
  readonly router: Router
  readonly scheduler: FlushScheduler
  readonly decoder: FrameDecoder
  readonly decodeLimits: DecodeLimits
  readonly logger: Logger
  readonly auth: Authenticator
  readonly inboxes: InboxRegistry<Session> | null
  readonly topics: Topics
  /** Publishes the broker's answer to a request (topic API, publisher confirms) on its reply subject. */
  reply(subject: string, reply: BrokerReply): void
  info(clientId: string): object
  /** How long to hold back the answer to a failed authentication from this address (brute-force brake). */
  authFailureDelay(ip: string): number
  onOpen(conn: Connection): void
  onPublisher(conn: Connection): void
  onCongested(conn: Connection): void
  onDrained(conn: Connection): void
  onSlowConsumer(conn: Connection): void
  onClosed(conn: Connection, code: number): void
}

function protocolError(message: string): SubwireError {
  return new SubwireError('protocol', message)
}

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
  readonly #host: ConnectionHost
  readonly #socket: WebSocket
  readonly #outbound: Outbound
  /** The upgrade request, kept only until authentication when the application's hook needs it. */
  #request: IncomingMessage | null
  /** Frames (or the rest of one) that arrived while CONNECT was being authenticated. */
  /** Frames held back by the rate limits; made on first use (most connections never need it). */
  #held: Array<Buffer | string> | null = null
  #heldBytes = 0
  #expiryTimer: NodeJS.Timeout | null = null
  #reauthPending = false
  readonly #msgRate: TokenBucket | null
  readonly #byteRate: TokenBucket | null
  #throttleTimer: NodeJS.Timeout | null = null
  #state: ConnState = CONN_STATE.awaitingConnect
  #missedPings = 0
  #paused = false
  #connectTimer: NodeJS.Timeout | null = null
  #killTimer: NodeJS.Timeout | null = null
  #log: Logger | null = null

  constructor(host: ConnectionHost, socket: WebSocket, id: string, remoteAddress: string, subprotocol: Subprotocol, request: IncomingMessage) {
    this.#host = host
    this.#socket = socket
    this.session = new Session(host.inboxes)
    this.#request = host.auth.needsRequest ? request : null
    this.#msgRate = host.config.maxMsgsPerSecond > 0 ? new TokenBucket(host.config.maxMsgsPerSecond) : null
    this.#byteRate = host.config.maxBytesPerSecond > 0 ? new TokenBucket(host.config.maxBytesPerSecond) : null
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

  get state(): ConnState {
    return this.#state
  }

  get pendingBytes(): number {
    return this.#outbound.pendingBytes
  }

  get log(): Logger {
    return (this.#log ??= this.#host.logger.child({ cid: this.id }))
  }

  /**
   * Logs a connection's life events at info. The child logger is made only when info is enabled: made for every
   * connection of a silent broker, it cost about a kilobyte each in the idle-connections benchmark.
   */
  #logInfo(fields: object, message: string): void {
    if (this.#host.logger.isLevelEnabled('info')) this.log.info(fields, message)
  }

  /** A snapshot for stats pages and broker events. */
  summary(): ConnectionSummary {
    return {
      id: this.id,
      name: this.name,
      ip: this.remoteAddress,
      subprotocol: this.subprotocol,
      connectedAt: this.connectedAt,
      subscriptions: [...this.subscriptions.values()].map((s) => ({ sid: s.sid, subject: s.subject, queue: s.queue })),
      pendingBytes: this.pendingBytes,
      msgsIn: this.msgsIn,
      bytesIn: this.bytesIn,
      msgsOut: this.msgsOut,
      bytesOut: this.bytesOut,
    }
  }

  #setState(next: ConnState): void {
    this.#state = next
  }

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
      this.#onInboundError(err)
    }
  }

  /**
   * Decodes a frame, in order behind any held ones. Frames are held while CONNECT is being authenticated and
   * while a rate limit is paying off its debt: pausing the socket alone would still let through what `ws` had
   * already read.
   */
  #handleFrame(frame: Buffer | string): void {
    if (this.#held === null && this.#throttleTimer === null && this.#state === CONN_STATE.open) {
      // The common case, straight through: nothing held, nothing holding. (Only CONNECT stops a frame early,
      // and CONNECT on an open connection is a protocol error, so the whole frame is always decoded here.)
      if (typeof frame === 'string') decodeJsonFrame(frame, this, this.#host.decodeLimits)
      else this.#host.decoder.decode(frame, this)
      return
    }
    this.#holdInput(frame)
    this.#processHeld()
  }

  /** Holds input, bounded: the socket is paused meanwhile, so only what was already read can pile up. */
  #holdInput(frame: Buffer | string): void {
    this.#heldBytes += frame.length
    if (this.#heldBytes > 2 * this.#host.config.maxFrame) throw new SubwireError('limit', 'too much input while authentication or a rate limit holds it')
    ;(this.#held ??= []).push(frame)
  }

  /** Decodes held frames in order while nothing holds them (authentication, rate limit, closing). */
  #processHeld(): void {
    const held = this.#held
    if (held === null) return
    while (held.length > 0 && this.#throttleTimer === null &&
      (this.#state === CONN_STATE.open || this.#state === CONN_STATE.awaitingConnect)) {
      const frame = held.shift() as Buffer | string
      this.#heldBytes -= frame.length
      const stop = typeof frame === 'string'
        ? decodeJsonFrame(frame, this, this.#host.decodeLimits)
        : this.#host.decoder.decode(frame, this)
      if (stop < frame.length) {
        // CONNECT is being authenticated: the rest of its frame waits at the front.
        const rest = frame.slice(stop)
        held.unshift(rest)
        this.#heldBytes += rest.length
        return
      }
    }
    if (held.length === 0 && this.#held === held) this.#held = null
  }

  /** A decoding error ends the connection: after a malformed op the rest of the frame cannot be trusted. */
  #onInboundError(err: unknown): void {
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
    if (body.protocol !== PROTOCOL_VERSION) throw protocolError(`unsupported protocol version ${String(body.protocol)} (this broker speaks ${PROTOCOL_VERSION})`)
    if (body.name !== undefined && body.name !== null && typeof body.name !== 'string') throw protocolError('CONNECT name must be a string')
    if (body.echo !== undefined && body.echo !== null && typeof body.echo !== 'boolean') throw protocolError('CONNECT echo must be a boolean')
    this.name = typeof body.name === 'string' ? body.name.slice(0, 128) : ''
    this.echo = body.echo !== false
    // Only strings reach the log: a client-chosen nested value could be arbitrarily deep.
    const lang = typeof body.lang === 'string' ? body.lang.slice(0, 32) : undefined
    const version = typeof body.version === 'string' ? body.version.slice(0, 32) : undefined
    if (!this.#host.auth.required) {
      this.#admit({ user: '', permissions: null, expiresAt: null }, lang, version)
      return true
    }
    this.#setState(CONN_STATE.authenticating)
    this.#socket.pause() // TCP backpressure while the check runs; what already arrived is held
    void this.#authenticateConnect(body as Credentials, lang, version)
    return false
  }

  async #authenticateConnect(creds: Credentials, lang: string | undefined, version: string | undefined): Promise<void> {
    let identity: Identity | null = null
    try {
      identity = await this.#host.auth.authenticate(creds, this.#request)
    } catch (err) {
      this.log.error({ err }, 'authentication failed unexpectedly')
    }
    this.#request = null
    if (this.#state !== CONN_STATE.authenticating) return // closed meanwhile
    if (identity === null) {
      this.log.warn({ ip: this.remoteAddress, name: this.name }, 'authentication failed')
      const delay = this.#host.authFailureDelay(this.remoteAddress)
      // Failures say auth_failed and nothing more; repeated ones from an address are answered slowly. Reads
      // resume first, so the client's half of the close handshake is read and the close is not held for it.
      setTimeout(() => { this.#socket.resume(); this.closeWith('auth_failed', 'authentication failed') }, delay).unref()
      return
    }
    this.#admit(identity, lang, version)
    this.#socket.resume()
    try {
      this.#processHeld()
    } catch (err) {
      this.#onInboundError(err)
    }
  }

  /** CONNECT accepted: the connection is open for this identity. */
  #admit(identity: Identity, lang: string | undefined, version: string | undefined): void {
    this.#clearConnectTimer()
    this.session.setIdentity(identity)
    this.#armExpiry(identity.expiresAt)
    this.#setState(CONN_STATE.open)
    if (this.#host.auth.required) this.#outbound.info({ authExpiresAt: identity.expiresAt, user: identity.user })
    this.#host.onOpen(this)
    this.#logInfo({ name: this.name, user: identity.user, ip: this.remoteAddress, lang, version, subprotocol: this.subprotocol }, 'client connected')
  }

  /** Closes the connection with `auth_expired` when its credentials expire (unless re-authenticated first). */
  #armExpiry(expiresAt: number | null): void {
    if (this.#expiryTimer !== null) { clearTimeout(this.#expiryTimer); this.#expiryTimer = null }
    if (expiresAt === null) return
    // setTimeout holds at most 2^31-1 ms; a later expiry is re-armed when that fires.
    const wait = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1)
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = null
      if (Date.now() >= expiresAt) this.closeWith('auth_expired', 'credentials expired')
      else this.#armExpiry(expiresAt)
    }, wait)
    this.#expiryTimer.unref()
  }

  /** AUTH: new credentials on a live connection (PROTOCOL §4.8). Subscriptions stay unless no longer allowed. */
  onAuth(body: Record<string, WireValue>): void {
    this.#expectOpen('AUTH')
    if (this.#reauthPending) { this.#outbound.err('auth_failed', 'a re-authentication is already in progress', 'auth'); return }
    this.#reauthPending = true
    void this.#host.auth.authenticate(body as Credentials, null).then((identity) => this.#onReauth(identity), () => this.#onReauth(null))
  }

  #onReauth(identity: Identity | null): void {
    if (this.#state !== CONN_STATE.open) return
    if (identity === null) {
      // Pending until the (braked) answer goes out, so a client cannot stack attempts meanwhile.
      // The old credentials stay valid until they expire; only this attempt failed. Braked like CONNECT.
      this.log.warn({ ip: this.remoteAddress }, 're-authentication failed')
      const delay = this.#host.authFailureDelay(this.remoteAddress)
      const refuse = (): void => {
        this.#reauthPending = false
        if (this.#state === CONN_STATE.open) this.#outbound.err('auth_failed', 'authentication failed', 'auth')
      }
      if (delay === 0) refuse()
      else setTimeout(refuse, delay).unref()
      return
    }
    this.#reauthPending = false
    this.session.setIdentity(identity)
    this.#armExpiry(identity.expiresAt)
    for (const sub of [...this.subscriptions.values()]) {
      if (this.session.ownsInbox(sub.subject)) continue
      const refusal = this.session.subscribeRefusal(sub.subject, sub.queue)
      if (refusal !== null) {
        this.#removeSubscription(sub)
        this.#outbound.err('permission', `${refusal} (after re-authentication)`, sub.sid)
      }
    }
    this.#outbound.info({ authExpiresAt: identity.expiresAt, user: identity.user })
  }

  onPub(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null,
    encoding: number, payload: Uint8Array | null, size: number, tail: Uint8Array | null): void {
    if (this.#state !== CONN_STATE.open) this.#expectOpen('PUB')
    if (!this.isPublisher) { this.isPublisher = true; this.#host.onPublisher(this) }
    this.msgsIn++
    this.bytesIn += size
    if (this.#msgRate !== null || this.#byteRate !== null) this.#meter(size)
    if (size > this.#host.config.maxPayload) {
      this.#outbound.err('max_payload', `payload of ${size} bytes exceeds the maximum of ${this.#host.config.maxPayload}`, subject)
      return
    }
    // Only binary PUBs can mislabel bytes as JSON (JSON-protocol payloads were just parsed); the SDK never
    // sends this encoding in binary, so the parse costs nothing on the fast path.
    if (encoding === ENCODING.json && tail !== null && !isJsonText(payload ??= payloadOfTail(tail, size))) {
      this.#outbound.err('bad_payload', 'a payload tagged json is not JSON text', subject)
      return
    }
    if (this.session.restricted && !this.session.mayPublish(subject)) {
      this.#outbound.err('permission', `not allowed to publish to ${quoteSubject(subject)}`, subject)
      return
    }
    if (isTopicApi(subject)) {
      if (reply !== null) this.#host.reply(reply, topicApi(this.#host.topics, subject, encoding, payload ?? payloadOfTail(tail as Uint8Array, size)))
      return
    }
    // Most publishes fall under no topic and ask no confirm: they skip the store, and the payload view.
    if (wantsConfirm(flags) || (this.#host.topics.active && this.#host.topics.topicFor(subject) !== null)) {
      payload ??= payloadOfTail(tail as Uint8Array, size)
      if (!this.#storeInTopic(flags, subject, reply, headers, encoding, payload)) return
      if (wantsConfirm(flags)) { reply = null; tail = null } // the reply subject was for the confirm only
    }
    const refusal = payload === null
      ? this.#host.router.publishTail(this, flags, subject, reply, encoding, tail as Uint8Array, size)
      : this.#host.router.publish(this, flags, subject, reply, headers, encoding, payload, tail)
    if (refusal !== null) this.#outbound.err(refusal.code, refusal.message, subject)
  }

  /**
   * Stores a publish in the topic covering it and answers a publisher confirm. Returns false when the message
   * must not be routed live: the topic refused it, or it is a duplicate (stored once, delivered once).
   */
  #storeInTopic(flags: number, subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): boolean {
    const confirm = wantsConfirm(flags)
    const refusal = this.#host.router.check(subject, reply)
    if (refusal !== null) { this.#outbound.err(refusal.code, refusal.message, subject); return false }
    if (confirm && reply === null) { this.#outbound.err('bad_option', 'a confirmed publish needs a reply subject', subject); return false }
    let captured: ReturnType<Topics['capture']>
    try {
      captured = this.#host.topics.active ? this.#host.topics.capture(subject, headers, encoding, payload) : null
    } catch (err) {
      const error = asSubwireError(err)
      if (confirm) this.#host.reply(reply as string, { error })
      else this.#outbound.err(error.code, error.message, subject)
      return false
    }
    if (confirm) {
      if (captured === null) {
        this.#host.reply(reply as string, { error: new SubwireError('no_topic', `no topic covers ${quoteSubject(subject)}`) })
        return false
      }
      this.#host.reply(reply as string, { data: { topic: captured.topic, seq: captured.result.seq, duplicate: captured.result.duplicate } })
    }
    return captured === null || !captured.result.duplicate
  }

  onSub(sid: number, subject: string, queue: string | null, options: Record<string, WireValue> | null): void {
    this.#expectOpen('SUB')
    if (this.subscriptions.has(sid)) throw protocolError(`sid ${sid} is already in use on this connection`)
    const problem = subjectProblem(subject, true, this.#host.config.maxSubjectLength)
    if (problem !== null) {
      this.#outbound.err('bad_subject', `invalid subscription subject ${quoteSubject(subject)}: ${problem}`, sid)
      return
    }
    if (queue !== null && (queue.length === 0 || queue.length > this.#host.config.maxSubjectLength || /[\s\x00-\x1f\x7f]/.test(queue))) {
      this.#outbound.err('bad_option', `invalid queue group name ${quoteSubject(queue)}: it must be non-empty with no white space`, sid)
      return
    }
    if (this.subscriptions.size >= this.#host.config.maxSubscriptionsPerConnection) {
      this.#outbound.err('max_subscriptions', `a connection may hold at most ${this.#host.config.maxSubscriptionsPerConnection} subscriptions`, sid)
      return
    }
    const refusal = this.session.subscribeRefusal(subject, queue)
    if (refusal !== null) {
      this.#outbound.err('permission', refusal, sid)
      return
    }
    const sub = new ServerSubscription(this, sid, subject, queue)
    sub.ownInbox = this.session.ownsInbox(subject)
    try {
      const opts = parseSubOptions(options, queue)
      sub.policy = opts.policy
      if (opts.ack) {
        sub.kind = 'group'
        this.subscriptions.set(sid, sub) // before the group starts delivering
        sub.topic = this.#host.topics.join(this, sid, subject, queue as string, opts.group)
      } else if (opts.deliver !== null) {
        sub.kind = 'replay'
        this.subscriptions.set(sid, sub) // before the replay starts delivering
        this.#host.topics.subscribe(this, sid, subject, opts.deliver)
      }
    } catch (err) {
      this.subscriptions.delete(sid)
      this.session.release(subject)
      const error = asSubwireError(err)
      this.#outbound.err(error.code, error.message, sid)
      return
    }
    this.subscriptions.set(sid, sub)
    if (sub.kind === 'plain') this.#host.router.index.insert(sub)
  }

  /** ACK: settles a work-queue message this connection holds (PROTOCOL §8.4). */
  onAck(sid: number, seq: number, kind: number, delayMs: number): void {
    this.#expectOpen('ACK')
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
    if (max === null || sub.delivered >= max) this.#removeSubscription(sub)
    else sub.max = max
  }

  onPing(): void {
    this.#expectOpen('PING')
    this.#outbound.pong()
  }

  onPong(): void {
    this.#expectOpen('PONG')
  }

  onInfo(): void { throw protocolError('INFO is sent by the server, not by clients') }
  onEvent(): void { throw protocolError('EVENT is sent by the server, not by clients') }
  onMsg(): void { throw protocolError('MSG is sent by the server, not by clients') }
  onErr(): void { throw protocolError('ERR is sent by the server, not by clients') }

  // ---- outbound -----------------------------------------------------------------------------------------

  /** Queues one message for one of this connection's subscriptions; false when it could not be queued. */
  deliver(sub: ServerSubscription, d: Delivery): boolean {
    // Every delivery path passes here, so a permission can never be bypassed by how a message got routed.
    if (this.session.restricted && !sub.ownInbox) {
      if (!this.session.mayReceive(d.subject)) return false
      if (d.reply !== null) this.session.noteRequest(d.reply)
    }
    if (sub.policy !== null && sub.policy !== 'disconnect' && !this.#fits(d)) return this.#overCap(sub, d)
    if (sub.held !== null && sub.held.size > 0) { this.#holdMessage(sub, d); return true } // behind what is held
    if (!this.#outbound.msg(sub.prefix, sub.sid, d)) return false
    this.msgsOut++
    this.bytesOut += d.payloadLength
    if (++sub.delivered === sub.max) this.#removeSubscription(sub)
    return true
  }

  /** Would this message still fit under the connection's cap? */
  #fits(d: Delivery): boolean {
    return this.#outbound.pendingBytes + d.payloadLength + d.subject.length + 64 <= this.#host.config.maxPendingBytes
  }

  /** A drop policy at the cap: `drop_new` drops this message; `drop_old` / `keep_latest` hold it for later. */
  #overCap(sub: ServerSubscription, d: Delivery): boolean {
    if (sub.policy === 'drop_new') {
      sub.dropped++
      this.#reportDrops(sub, false)
      return false
    }
    this.#holdMessage(sub, d)
    return true
  }

  #holdMessage(sub: ServerSubscription, d: Delivery): void {
    // A held backlog gets an eighth of the connection's cap: enough to bridge a hiccup, bounded per subscription.
    sub.held ??= new HeldMessages(sub.policy as 'drop_old' | 'keep_latest', Math.max(64 * 1024, this.#host.config.maxPendingBytes >> 3))
    const dropped = sub.held.hold(d)
    if (dropped > 0) { sub.dropped += dropped; this.#reportDrops(sub, false) }
  }

  /** Sends held messages once there is room again, oldest first. */
  #releaseHeld(sub: ServerSubscription): void {
    sub.held?.release((d) => this.#fits(d) && this.#outbound.msg(sub.prefix, sub.sid, d))
  }

  #reportDrops(sub: ServerSubscription, force: boolean): void {
    const unreported = sub.dropped - sub.droppedReported
    const now = Date.now()
    if (unreported === 0 || (!force && now - sub.lastDropReport < 1000)) return
    if (this.#outbound.pendingBytes + 512 > this.#host.config.maxPendingBytes) return // reported once there is room
    sub.droppedReported = sub.dropped
    sub.lastDropReport = now
    this.#outbound.event(sub.sid, 'slow_consumer', { dropped: unreported, total: sub.dropped, subject: sub.subject })
  }

  /** Queues a message read from a topic; every topic delivery path passes here. */
  deliverStored(sid: number, m: StoredMessage, deliveryCount: number): void {
    const sub = this.subscriptions.get(sid)
    if (sub === undefined || !sub.active) return
    if (this.session.restricted && !this.session.mayReceive(m.subject)) return
    if (this.#outbound.storedMsg(sid, m, deliveryCount)) { this.msgsOut++; this.bytesOut += m.payload.length }
  }

  /** Sends a subscription event (gap, slow_consumer). */
  event(sid: number, type: string, data: Record<string, unknown>): void {
    this.#outbound.event(sid, type, data)
  }

  /** True while the socket is behind (see TopicReceiver). */
  get congested(): boolean {
    return this.#outbound.congested
  }

  /** True while more than the high-water mark of bytes waits to be sent (topic replays pause). */
  get backedUp(): boolean {
    return this.#outbound.pendingBytes > this.#host.config.highWaterBytes
  }

  #removeSubscription(sub: ServerSubscription): void {
    sub.active = false
    this.subscriptions.delete(sub.sid)
    if (sub.kind === 'plain') this.#host.router.index.remove(sub)
    else this.#host.topics.unsubscribe(this, sub.sid)
    this.session.release(sub.subject)
  }

  /** Per-connection rate limits: a client over its rate has its reads paused for as long as it is ahead. */
  #meter(size: number): void {
    const wait = Math.max(this.#msgRate?.take(1) ?? 0, this.#byteRate?.take(size) ?? 0)
    if (wait === 0 || this.#throttleTimer !== null) return
    this.#socket.pause()
    this.#throttleTimer = setTimeout(() => {
      this.#throttleTimer = null
      try {
        this.#processHeld()
      } catch (err) {
        this.#onInboundError(err)
      }
      if (this.#throttleTimer === null && !this.#paused && this.#state === CONN_STATE.open) this.#socket.resume()
    }, wait)
    this.#throttleTimer.unref()
  }

  onCongested(): void { this.#host.onCongested(this) }
  onDrained(): void {
    this.#host.onDrained(this)
    this.#host.topics.resume(this)
    for (const sub of this.subscriptions.values()) {
      if (sub.held !== null && sub.held.size > 0) this.#releaseHeld(sub)
      if (sub.dropped > sub.droppedReported) this.#reportDrops(sub, true)
    }
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
    } else if (++this.#missedPings >= 2) {
      this.closeWith('stale_connection', 'no traffic in reply to two PINGs')
      return
    }
    this.#outbound.ping()
  }

  /** Stops or restarts reading this socket (publisher backpressure). */
  setPaused(paused: boolean): void {
    if (paused === this.#paused || this.#state === CONN_STATE.closed) return
    this.#paused = paused
    if (paused) this.#socket.pause()
    else if (this.#throttleTimer === null && this.#state !== CONN_STATE.authenticating) {
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
    if (this.#expiryTimer !== null) { clearTimeout(this.#expiryTimer); this.#expiryTimer = null }
    if (this.#throttleTimer !== null) { clearTimeout(this.#throttleTimer); this.#throttleTimer = null }
    this.#outbound.discard()
    this.#held = null
    for (const sub of this.subscriptions.values()) {
      sub.active = false
      if (sub.kind === 'plain') this.#host.router.index.remove(sub)
      else this.#host.topics.unsubscribe(this, sub.sid)
      this.session.release(sub.subject)
    }
    this.#logInfo({ code }, 'client disconnected')
    this.#host.onClosed(this, code)
    this.subscriptions.clear()
  }
}
