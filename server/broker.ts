/**
 * The composition root: options, logger, HTTP/WebSocket server, the heartbeat sweep, publisher
 * backpressure, and closing. Per-connection work lives in connection.ts, the publish path in router.ts.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { pino, type Logger } from 'pino'
import { nanoid } from 'nanoid'
import { FrameDecoder } from '../shared/frame-decoder.ts'
import { encodePayload } from '../shared/payload-codec.ts'
import type { DecodeLimits } from '../shared/op-sink.ts'
import { assertSubject } from '../shared/subject.ts'
import { SubwireError } from '../shared/errors.ts'
import type { Info, Subprotocol } from '../shared/protocol.ts'
import { Connection } from './edge/connection.ts'
import type { ConnectionHost } from './edge/connection-host.ts'
import { chooseSubprotocol, closeSessions, infoFor, offeredSubprotocols, refuseUpgrade, requestPath } from './edge/handshake.ts'
import { FlushScheduler } from './outbound/outbound-queue.ts'
import { resolveConfig, type BrokerConfig, type BrokerOptions } from './options.ts'
import { Router, type RouterStats } from './routing/router.ts'
import type { ClusterAdapter } from './cluster/cluster-adapter.ts'
import { createClusterAdapter } from './cluster/create-cluster.ts'
import { noticeClusterLink } from './edge/cluster-notices.ts'
import { BrokerEvents, summarize, type ConnectionSummary } from './edge/broker-events.ts'
import { handleHttpRequest, registerHttpAuth } from './edge/http-routes.ts'
import { Authenticator } from './security/auth.ts'
import { Admission } from './edge/admission.ts'
import { createHttpServer } from './edge/http-server.ts'
import { InboxRegistry } from './security/inbox-registry.ts'
import { Topics } from './topics/topics.ts'
import { encodeReply, type BrokerReply } from './topics/topic-intake.ts'

/** Broker lifecycle: `ready` serves; `draining` tells clients to go and refuses new ones. */
export const BROKER_STATE = { starting: 'starting', ready: 'ready', draining: 'draining', closed: 'closed' } as const
export type BrokerState = (typeof BROKER_STATE)[keyof typeof BROKER_STATE]

/** A snapshot of the broker's counters. */
export interface BrokerStats extends RouterStats {
  connections: number
  subscriptions: number
  slowConsumers: number
  /** True while publishers' reads are paused because a subscriber is congested. */
  backpressure: boolean
}

export class Broker {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly serverId: string = nanoid()
  readonly router: Router
  /** The cluster seam: a cluster of one (LocalCluster), or nodes joined on Redis (option `cluster`). */
  readonly cluster: ClusterAdapter
  /** Connection and slow-consumer events, for monitoring. */
  readonly events: BrokerEvents
  #state: BrokerState = BROKER_STATE.starting
  readonly #connections = new Set<Connection>()
  readonly #publishers = new Set<Connection>()
  /** Congested connections currently holding publishers back, with their stall timers. */
  readonly #congested = new Map<Connection, NodeJS.Timeout>()
  /** Congested connections that stopped draining: they no longer hold anyone back. */
  readonly #stalled = new Set<Connection>()
  readonly #http: HttpServer
  readonly #ownsHttp: boolean
  readonly #wss: WebSocketServer
  readonly #host: ConnectionHost<Connection>
  /** Topics: stored subjects, replay, work queues. */
  readonly topics: Topics
  readonly #auth: Authenticator
  readonly #admission: Admission
  readonly #tls: boolean
  #sweepTimer: NodeJS.Timeout | null = null
  #closing: Promise<void> | null = null
  #slowConsumers = 0
  /** Set while close() waits for the last connection to go. */
  #onAllClosed: (() => void) | null = null
  /** One write phase per task for every connection, which the cluster's outbox goes first in. */
  readonly #scheduler = new FlushScheduler()

  private constructor(options: BrokerOptions) {
    this.config = resolveConfig(options)
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'broker' })
    this.events = new BrokerEvents(this.logger)
    this.cluster = createClusterAdapter(this.config.cluster, { ...this.config, logger: this.logger, info: () => ({ connections: this.#connections.size, subscriptions: this.router.index.size }), beforeWrites: (task) => this.#scheduler.beforeWrites(task) })
    noticeClusterLink(this.cluster, this.#connections)
    this.router = new Router({ maxSubjectLength: this.config.maxSubjectLength, cacheSize: this.config.subjectCacheSize, cluster: this.cluster })
    this.#auth = new Authenticator(options.auth, this.logger.child({ component: 'auth' }), this.config.trustProxy)
    // File topics are reopened here, before any client can publish (README "Durable topics").
    this.topics = Topics.open({
      logger: this.logger.child({ component: 'topics' }),
      maxTopics: this.config.maxTopics,
      defaultTopicMaxBytes: this.config.defaultTopicMaxBytes,
      route: (subject, headers, encoding, payload) => this.#publishInternal(subject, null, headers, encoding, payload),
    }, options.topics ?? [], { ...this.config.fileStore, dataDir: this.config.dataDir ?? undefined },
    this.config.cluster === null ? null : { config: this.config.cluster, adapter: this.cluster })
    this.#admission = new Admission(this.config)
    registerHttpAuth(this.config, this.#auth, this.#admission) // the monitoring's credentials, checked like CONNECT's
    this.#ownsHttp = options.server === undefined
    this.#tls = options.server === undefined && options.tls !== undefined
    this.#http = options.server ?? createHttpServer(this.config, options.tls, this.#admission, this.#onHttpRequest)
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Frame-level cap at our own limit, not ws's 100 MiB default (HOUSE_STYLE 9). With deflate on, ws
      // applies it to the inflated size, so a zip bomb is cut off at maxFrame (close 1009).
      maxPayload: this.config.maxFrame,
      perMessageDeflate: this.config.perMessageDeflate ? { threshold: 1024, concurrencyLimit: 4 } : false,
      handleProtocols: (offered) => chooseSubprotocol(offered) ?? false,
    })
    this.#host = this.#makeHost()
  }

  /** Creates a broker and waits until it listens (or, attached to a server, until it is wired in). */
  static async create(options: BrokerOptions = {}): Promise<Broker> {
    const broker = new Broker(options)
    // A port in use must not leave the file topics' files open.
    // In a cluster the topics' Redis store opens (and the declared topics are created) before the node serves.
    await broker.topics.start().then(() => broker.#start()).catch(async (err: unknown) => { await broker.topics.close(); throw err })
    return broker
  }

  #makeHost(): ConnectionHost<Connection> {
    const decodeLimits: DecodeLimits = { maxOpsPerFrame: this.config.maxOpsPerFrame, maxHeaders: this.config.maxHeaders }
    return {
      config: this.config,
      router: this.router,
      scheduler: this.#scheduler,
      // One decoder for every connection: decoding is synchronous, so its reader is never shared mid-frame.
      decoder: new FrameDecoder(decodeLimits),
      decodeLimits,
      logger: this.logger,
      auth: this.#auth,
      // Inbox ownership matters only when connections are authenticated (PROTOCOL §4.8).
      inboxes: this.#auth.required ? new InboxRegistry({ peers: this.cluster.inboxPeers }) : null,
      authFailureDelay: (ip) => this.#admission.failureDelay(ip),
      subscriptionBudget: this.#admission,
      topics: this.topics,
      reply: (subject, reply) => this.#reply(subject, reply),
      info: (clientId) => this.#info(clientId),
      onOpen: (conn) => { if (this.events.wants('connect')) this.events.emit('connect', conn.summary()) },
      onPublisher: (conn) => this.#onPublisher(conn),
      onCongested: (conn) => this.#onCongested(conn),
      onDrained: (conn) => this.#onDrained(conn),
      onSlowConsumer: (conn) => {
        this.#slowConsumers++
        if (this.events.wants('slow_consumer')) this.events.emit('slow_consumer', conn.summary())
      },
      onClosed: (conn, code) => this.#onClosed(conn, code),
    }
  }

  async #start(): Promise<void> {
    await this.cluster.start(this.router)
    this.#http.on('upgrade', this.#onUpgrade)
    if (this.#ownsHttp) {
      await new Promise<void>((resolve, reject) => {
        this.#http.once('error', reject)
        this.#http.listen(this.config.port, this.config.host, () => {
          this.#http.off('error', reject)
          resolve()
        })
      })
    }
    this.#sweepTimer = setInterval(this.#sweep, this.config.heartbeatMs)
    this.#sweepTimer.unref()
    this.#state = BROKER_STATE.ready
    this.logger.info({ url: this.url }, 'broker listening')
  }

  /** The port the HTTP server listens on (0 while an attached server is not listening yet). */
  get port(): number {
    const address = this.#http.address() as AddressInfo | string | null
    return address !== null && typeof address === 'object' ? address.port : 0
  }

  /** The WebSocket URL clients connect to, e.g. `ws://127.0.0.1:4480/`. */
  get url(): string {
    const address = this.#http.address() as AddressInfo | string | null
    let host = this.config.host
    if (address !== null && typeof address === 'object') {
      host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address
      if (host.includes(':')) host = `[${host}]`
    }
    return `${this.#tls ? 'wss' : 'ws'}://${host}:${this.port}${this.config.path}`
  }

  get state(): BrokerState { return this.#state }

  /** True while the broker accepts and serves clients (false while starting, draining or closed). */
  get ready(): boolean {
    return this.#state === BROKER_STATE.ready
  }

  /**
   * Disconnects one client (by the `clientId` in its INFO) with "going away", so it reconnects. For operators
   * and tests. Returns false when no such connection is open.
   */
  disconnect(clientId: string): boolean {
    for (const conn of this.#connections) {
      if (conn.id === clientId) { conn.closeWith('server_closing', 'disconnected by the operator'); return true }
    }
    return false
  }

  /** A snapshot of every open connection, listing at most `maxSubscriptions` of each one's subscriptions. */
  connections(options: { maxSubscriptions?: number } = {}): ConnectionSummary[] {
    return [...this.#connections].map((conn) => summarize(conn, options.maxSubscriptions))
  }

  /**
   * Publishes from the broker itself (e.g. `$SYS.stats`): `data` is encoded like a client's publish.
   * @throws SubwireError `bad_subject` for an invalid subject
   * @example broker.publish('$SYS.stats', broker.stats())
   */
  publish(subject: string, data?: unknown, options: { headers?: Record<string, string>; reply?: string } = {}): void {
    assertSubject(subject, this.config.maxSubjectLength)
    const { encoding, bytes } = encodePayload(data)
    this.#publishInternal(subject, options.reply ?? null, options.headers ?? null, encoding, bytes)
  }

  /** The broker's own publishes: stored by a topic that covers them, then routed. */
  #publishInternal(subject: string, reply: string | null, headers: Record<string, string> | null, encoding: number, payload: Uint8Array): void {
    // In a cluster a topic's append waits for Redis: routed once stored (cluster-topics.ts captureOwn).
    if (this.topics.shared?.captureOwn(subject, headers, encoding, payload, () => this.router.publish(null, 0, subject, reply, headers, encoding, payload, null)) === true) return
    if (this.topics.active) {
      const captured = this.topics.capture(subject, headers, encoding, payload)
      if (captured?.result.duplicate === true) return
    }
    const refusal = this.router.publish(null, 0, subject, reply, headers, encoding, payload, null)
    if (refusal !== null) throw new SubwireError(refusal.code, refusal.message)
  }

  /** Answers a request on its reply subject (topic API results, publisher confirms). */
  #reply(subject: string, reply: BrokerReply): void {
    const { headers, encoding, bytes } = encodeReply(reply)
    const refusal = this.router.publish(null, 0, subject, null, headers, encoding, bytes, null)
    if (refusal !== null) this.logger.debug({ subject, code: refusal.code }, 'could not answer a request')
  }

  /** Counters and gauges for monitoring. */
  stats(): BrokerStats {
    return {
      ...this.router.stats,
      connections: this.#connections.size,
      subscriptions: this.router.index.size,
      slowConsumers: this.#slowConsumers,
      backpressure: this.#congested.size > 0,
    }
  }

  #info(clientId: string): Info {
    return infoFor(this.config, this.serverId, this.#auth.required, clientId, this.cluster.clustered ? this.cluster : null)
  }

  // ---- accepting connections ----------------------------------------------------------------------------

  readonly #onHttpRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handleHttpRequest(this.config, req, res)
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (requestPath(req) !== this.config.path) {
      // On a shared server another handler may own this path; answer only when nobody else can.
      if (this.#http.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'bad_option', `no WebSocket endpoint at ${requestPath(req)}`)
      return
    }
    if (this.#closing !== null) { refuseUpgrade(socket, 503, 'server_closing', 'the broker is shutting down'); return }
    const offered = offeredSubprotocols(req)
    const subprotocol = chooseSubprotocol(offered)
    if (subprotocol === null) {
      const what = offered.length === 0 ? 'no subprotocol was offered' : `unknown subprotocol ${offered.join(', ')}`
      refuseUpgrade(socket, 400, 'bad_subprotocol', `${what}; offer subwire.v1 (msgpack) or subwire.v1.json (JSON)`)
      return
    }
    let ip = this.#admission.clientAddress(req)
    const refused = this.#admission.admit(req, ip)
    if (refused !== null) {
      this.logger.debug({ ip, code: refused.code, status: refused.status }, 'handshake refused')
      refuseUpgrade(socket, refused.status, refused.code, refused.reason, refused.retryAfterSeconds)
      return
    }
    ip = this.#admission.sharedAddress(ip)
    // Until the upgrade completes, the socket's close releases the admission; from then on the connection's does.
    const release = (): void => this.#admission.release(ip)
    socket.once('close', release)
    this.#upgrading.set(req, { ip, subprotocol, release })
    this.#wss.handleUpgrade(req, socket, head, this.#onUpgraded)
  }

  /**
   * What an upgrade in progress needs once ws completes it, keyed by its request. One callback for every
   * upgrade, so nothing per connection stays reachable from ws's own closures: a closure per upgrade had kept
   * its request (headers, raw strings, parser state), then its context, alive as long as the socket.
   */
  readonly #upgrading = new WeakMap<IncomingMessage, { ip: string; subprotocol: Subprotocol; release: () => void }>()

  readonly #onUpgraded = (ws: WebSocket, request: IncomingMessage): void => {
    const upgrade = this.#upgrading.get(request)
    if (upgrade === undefined) { ws.terminate(); return }
    this.#upgrading.delete(request)
    request.socket.removeListener('close', upgrade.release)
    this.#accept(ws, request, upgrade.ip, upgrade.subprotocol)
  }

  #accept(ws: WebSocket, req: IncomingMessage, ip: string, subprotocol: Subprotocol): void {
    const conn = new Connection(this.#host, ws, nanoid(12), ip, subprotocol, req)
    this.#connections.add(conn)
  }

  #onClosed(conn: Connection, code: number): void {
    this.#admission.release(conn.remoteAddress)
    if (this.events.wants('disconnect')) this.events.emit('disconnect', { ...conn.summary(), code })
    this.#connections.delete(conn)
    this.#publishers.delete(conn)
    this.#stalled.delete(conn)
    this.#release(conn)
    if (this.#connections.size === 0) this.#onAllClosed?.()
  }

  // ---- heartbeats ---------------------------------------------------------------------------------------

  /** One timer for all connections (HOUSE_STYLE 15), not one per socket. */
  readonly #sweep = (): void => {
    for (const conn of this.#connections) conn.heartbeat()
  }

  // ---- publisher backpressure ---------------------------------------------------------------------------
  // A congested subscriber pauses every publisher's reads until it drains, so the broker never buffers
  // without bound for a subscriber that is merely slower. One that does not drain within stallMs is stalled:
  // it stops holding others back and meets the slow-consumer cap alone (one stalled client never stalls all).

  #onPublisher(conn: Connection): void {
    this.#publishers.add(conn)
    if (this.#congested.size > 0) conn.setPaused(true)
  }

  #onCongested(conn: Connection): void {
    if (this.#stalled.has(conn) || this.#congested.has(conn)) return
    const timer = setTimeout(() => this.#onStalled(conn), this.config.stallMs)
    timer.unref()
    this.#congested.set(conn, timer)
    if (this.#congested.size === 1) this.#setPublishersPaused(true)
  }

  #onDrained(conn: Connection): void {
    this.#stalled.delete(conn)
    this.#release(conn)
  }

  #onStalled(conn: Connection): void {
    if (!this.#congested.has(conn)) return
    conn.log.warn({ pendingBytes: conn.pendingBytes }, 'subscriber stalled: no longer holding publishers back')
    this.#stalled.add(conn)
    this.#release(conn)
  }

  #release(conn: Connection): void {
    const timer = this.#congested.get(conn)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#congested.delete(conn)
    if (this.#congested.size === 0) this.#setPublishersPaused(false)
  }

  #setPublishersPaused(paused: boolean): void {
    for (const conn of this.#publishers) conn.setPaused(paused)
  }

  // ---- closing ------------------------------------------------------------------------------------------

  /**
   * Closes every client with "going away" (1001, so clients reconnect, elsewhere if they can), waits for them
   * up to `closeGraceMs`, and stops listening. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#close())
  }

  async #close(): Promise<void> {
    this.#state = BROKER_STATE.draining
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    for (const timer of this.#congested.values()) clearTimeout(timer)
    this.#congested.clear()
    if (this.#connections.size > 0) {
      await new Promise<void>((resolve) => {
        this.#onAllClosed = resolve
        for (const conn of this.#connections) conn.closeWith('server_closing', 'the broker is shutting down')
      })
    }
    this.#http.off('upgrade', this.#onUpgrade)
    this.#wss.close()
    if (this.#ownsHttp) {
      await new Promise<void>((resolve) => {
        this.#http.close(() => resolve())
        this.#http.closeAllConnections()
      })
    }
    await this.topics.close()
    closeSessions(this.#host) // parked resumable sessions hold subscriptions and a timer (session-registry.ts)
    await this.cluster.close()
    this.#state = BROKER_STATE.closed
    this.logger.info('broker closed')
  }
}

/**
 * Starts a broker.
 * @example
 * const broker = await createBroker({ port: 0 })
 * console.log(broker.url) // ws://127.0.0.1:PORT/
 * await broker.close()
 */
export function createBroker(options: BrokerOptions = {}): Promise<Broker> {
  return Broker.create(options)
}
