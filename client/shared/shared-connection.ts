/**
 * One connection shared by the tabs that asked for the same servers and options (in the SharedWorker).
 *
 * Plain subscriptions are reference-counted by pattern: two tabs on `sensors.>` are one broker subscription,
 * and each message it delivers goes to each tab holding it, once per sid the tab has on it, exactly as the
 * tab's own connection would have delivered it. Subscriptions with a queue group or broker options (replay,
 * acks, a policy) are each tab's own: a queue member per tab, a replay per tab. Requests, publisher confirms
 * and flushes run on the shared client and are answered to the tab that asked. A tab that leaves (goodbye, or
 * no answer to the worker's pings within `tabTimeoutMs`) gives up its subscriptions; the connection closes
 * when no tab is left.
 */
import { SubwireError } from '../../shared/errors.ts'
import { Client } from '../client.ts'
import type { Msg } from '../message.ts'
import type { ConnectOptions } from '../options.ts'
import type { Subscription, SubscribeOptions } from '../subscription.ts'
import type { PageEvent, PageEvents } from '../visibility.ts'
import { fromWirePayload, statusToWire, toWire, type WorkerConnectOptions, type TabToWorker, type WireMsg, type WireSub, type WorkerToTab } from './wire.ts'
import { WorkerTab, type SharedPattern } from './worker-tab.ts'

type Pattern = SharedPattern

export class SharedConnection {
  readonly key: string
  readonly #servers: string[]
  readonly #options: WorkerConnectOptions
  readonly #tabs = new Set<WorkerTab>()
  readonly #patterns = new Map<string, Pattern>()
  readonly #bySid = new Map<number, Pattern>()
  /** The tabs' visibility and network events, fed to the shared client's heartbeat (visibility.ts). */
  readonly #pageListeners = new Set<(e: PageEvent) => void>()
  /** Tokens asked of a tab (`asked`) for the shared client's (re)connect, by id. */
  readonly #tokens = new Map<number, { resolve(t: string): void; reject(e: Error): void; asked: WorkerTab | null }>()
  #nextToken = 1
  #client: Client | null = null
  #starting: Promise<Client> | null = null
  #liveness: ReturnType<typeof setInterval> | null = null
  #idleTimer: ReturnType<typeof setTimeout> | null = null
  #gone = false
  /** Called once the connection is closed for good (the hub forgets it). */
  readonly #onGone: (conn: SharedConnection) => void

  constructor(key: string, servers: string[], options: WorkerConnectOptions, onGone: (conn: SharedConnection) => void) {
    this.key = key
    this.#servers = servers
    this.#options = options
    this.#onGone = onGone
  }

  /** True once closed for good: a tab that speaks to it again is asked to say hello anew (hub.ts). */
  get gone(): boolean {
    return this.#gone
  }

  /** A tab said hello: it is answered `ready` once the shared client is connected, `failed` if it cannot be. */
  join(tab: WorkerTab, tokenFromTab: boolean): void {
    tab.tokenFromTab = tokenFromTab
    this.#add(tab)
    this.#start().then((client) => {
      tab.post({ t: 'ready', state: client.state, server: client.server, info: client.info })
    }, (err: unknown) => {
      this.#tabs.delete(tab)
      tab.post({ t: 'failed', error: toWire(err) })
    })
  }

  #add(tab: WorkerTab): void {
    tab.alive = true
    this.#tabs.add(tab)
    if (this.#idleTimer !== null) { clearTimeout(this.#idleTimer); this.#idleTimer = null }
    if (this.#liveness === null) {
      this.#liveness = setInterval(() => this.#checkTabs(), Math.max(50, Math.floor(this.#options.tabTimeoutMs / 3)))
      ;(this.#liveness as { unref?: () => void }).unref?.()
    }
  }

  #start(): Promise<Client> {
    if (this.#starting !== null) return this.#starting
    const { tokenFromTab, tabTimeoutMs: _, ...rest } = this.#options
    const page: PageEvents = { listen: (fn) => { this.#pageListeners.add(fn); return () => this.#pageListeners.delete(fn) } }
    const options: ConnectOptions = { ...rest, pageEvents: page }
    if (tokenFromTab) options.token = () => this.#askToken()
    let client: Client
    try {
      client = new Client(this.#servers, options)
    } catch (err) {
      // An option out of range (bad_option): the tab's connect() rejects with it.
      this.#close()
      return Promise.reject(err)
    }
    this.#starting = client.start().then(() => {
      this.#client = client
      void this.#forwardStatus(client)
      return client
    }, (err: unknown) => {
      this.#close()
      throw err
    })
    return this.#starting
  }

  /** Handles one message of a tab that said hello to this connection. */
  handle(tab: WorkerTab, m: TabToWorker): void {
    if (m.t === 'bye') { this.leave(tab); return }
    if (m.t === 'took') { tab.took(m.bytes); return }
    if (!tab.alive) {
      // A tab taken for closed spoke again (its page was frozen, or came back from the back/forward cache).
      this.#add(tab)
      tab.post({ t: 'revive' })
    }
    if (m.t === 'token') {
      // Asked for while the shared client connects, so before it is there.
      const waiter = this.#tokens.get(m.id)
      this.#tokens.delete(m.id)
      if (m.token !== null) waiter?.resolve(m.token)
      else waiter?.reject(new SubwireError('auth_failed', m.error?.message ?? 'the tab could not get a token'))
      return
    }
    const client = this.#client
    if (client === null) {
      // Still connecting (a tab that rejoins a new worker may speak before the connection is there): handled
      // once it is, in order; a failed start answers the tab `failed`, which ends its calls.
      this.#starting?.then(() => { if (this.#tabs.has(tab)) this.handle(tab, m) }, () => undefined)
      return
    }
    switch (m.t) {
      case 'sub': this.#subscribe(client, tab, m.sid, m.sub); return
      case 'unsub': this.#release(tab, m.sid); return
      case 'drain': this.#drain(client, tab, m.sid, m.id); return
      case 'pub':
        try {
          client.publish(m.subject, fromWirePayload(m.data), { reply: m.reply, headers: m.headers })
        } catch (err) {
          tab.post({ t: 'status', status: { fields: { type: 'error', subject: m.subject }, error: toWire(err) } })
        }
        return
      case 'request':
        this.#answer(tab, m.id, client.request(m.subject, fromWirePayload(m.data), { timeout: m.timeout, headers: m.headers }).then((r) => ({ value: null, msg: wireMsg([], r) })))
        return
      case 'publishAck':
        this.#answer(tab, m.id, client.publishAck(m.subject, fromWirePayload(m.data), m.options).then((value) => ({ value, msg: null })))
        return
      case 'flush': this.#answer(tab, m.id, client.flush().then(() => ({ value: null, msg: null }))); return
      case 'settle': {
        const p = tab.subs.get(m.sid)
        if (p !== undefined) client.settle(p.workerSid, m.seq, m.kind, m.delayMs)
        return
      }
      case 'check': for (const fn of this.#pageListeners) fn('visible'); return
      case 'pong': case 'hello': return
      default: {
        // A tab of another version of this code (a deploy while the worker lives on) may say what this one does
        // not know: ignored, never thrown in the worker that every tab shares.
        const unknown: never = m
        void unknown
      }
    }
  }

  #answer(tab: WorkerTab, id: number, p: Promise<{ value: unknown; msg: WireMsg | null }>): void {
    p.then(({ value, msg }) => tab.post({ t: 'done', id, value, msg }), (err: unknown) => tab.post({ t: 'fail', id, error: toWire(err) }))
  }

  #subscribe(client: Client, tab: WorkerTab, sid: number, s: WireSub): void {
    if (tab.subs.has(sid)) return
    const own = s.queue !== undefined || s.options !== undefined
    const key = own ? `${this.#tabId(tab)}\u0000${sid}` : s.subject
    let p = this.#patterns.get(key)
    if (p === undefined) {
      const pattern: Pattern = { key, workerSid: 0, members: new Map(), sub: null }
      try {
        const options: SubscribeOptions = { ...(s.options ?? {}), callback: (err, m) => this.#deliver(pattern, err, m) }
        if (s.queue !== undefined) options.queue = s.queue
        pattern.sub = client.subscribe(s.subject, options)
      } catch (err) {
        tab.post({ t: 'subEnd', sid, error: toWire(err) })
        return
      }
      pattern.workerSid = pattern.sub.sid
      p = pattern
      this.#patterns.set(key, p)
      this.#bySid.set(p.workerSid, p)
    }
    const sids = p.members.get(tab)
    if (sids === undefined) p.members.set(tab, [sid])
    else sids.push(sid)
    tab.subs.set(sid, p)
  }

  readonly #tabIds = new WeakMap<WorkerTab, number>()
  #nextTabId = 1
  #tabId(tab: WorkerTab): number {
    let id = this.#tabIds.get(tab)
    if (id === undefined) { id = this.#nextTabId++; this.#tabIds.set(tab, id) }
    return id
  }

  /** Errors that ended a subscription, told to its holders as its end: their `error` status is not everyone's. */
  readonly #told = new WeakSet<Error>()

  #deliver(p: Pattern, err: SubwireError | null, m: Msg | null): void {
    if (err !== null) {
      const ended = p.sub === null || p.sub.isClosed
      for (const [tab, sids] of p.members) {
        for (const sid of sids) tab.post(ended ? { t: 'subEnd', sid, error: toWire(err) } : { t: 'subEvent', sid, error: toWire(err) })
        if (ended) for (const sid of sids) tab.subs.delete(sid)
      }
      if (ended) { this.#drop(p); this.#told.add(err) }
      return
    }
    if (m === null) return
    // One copy of the payload per message, whatever the number of tabs: a view would clone its whole frame.
    const payload = m.bytes.slice()
    for (const [tab, sids] of p.members) tab.msg(wireMsg(sids, m, payload))
  }

  /** Takes tab's sid off its pattern; the broker subscription goes when its last holder does. */
  #release(tab: WorkerTab, sid: number): Pattern | null {
    const p = tab.subs.get(sid)
    if (p === undefined) return null
    tab.subs.delete(sid)
    const sids = p.members.get(tab)
    if (sids !== undefined) {
      const i = sids.indexOf(sid)
      if (i >= 0) sids.splice(i, 1)
      if (sids.length === 0) p.members.delete(tab)
    }
    if (p.members.size > 0) return null
    this.#drop(p)
    return p
  }

  #drop(p: Pattern): void {
    if (this.#patterns.get(p.key) === p) this.#patterns.delete(p.key)
    this.#bySid.delete(p.workerSid)
    p.sub?.unsubscribe()
  }

  #drain(client: Client, tab: WorkerTab, sid: number, id: number): void {
    const p = tab.subs.get(sid)
    const last = p !== undefined && p.members.size === 1 && p.members.get(tab)?.length === 1
    if (p === undefined || !last || p.sub === null) {
      // Others hold the pattern: a round trip is enough, since every message the server sent before it has
      // then reached this worker, and so the tab.
      this.#answer(tab, id, client.flush().then(() => { this.#release(tab, sid); return { value: null, msg: null } }))
      return
    }
    // The last holder drains the broker subscription itself; meanwhile a new subscriber gets one of its own.
    this.#patterns.delete(p.key)
    this.#answer(tab, id, p.sub.drain().then(() => {
      tab.subs.delete(sid)
      p.members.clear()
      this.#bySid.delete(p.workerSid)
      return { value: null, msg: null }
    }))
  }

  /** The tab is gone (goodbye, or silent past `tabTimeoutMs`): its subscriptions are given up. */
  leave(tab: WorkerTab): void {
    if (!tab.alive) return
    tab.alive = false
    for (const sid of [...tab.subs.keys()]) this.#release(tab, sid)
    this.#tabs.delete(tab)
    // A token it was asked for will not come: another tab is asked (the handshake waits for it meanwhile).
    for (const [id, w] of this.#tokens) if (w.asked === tab) this.#ask(id)
    if (this.#tabs.size > 0 || this.#idleTimer !== null) return
    // No tab left: the connection closes, unless one comes (a reload) within the timeout.
    this.#idleTimer = setTimeout(() => { this.#idleTimer = null; if (this.#tabs.size === 0) this.#close() }, this.#options.tabTimeoutMs)
    ;(this.#idleTimer as { unref?: () => void }).unref?.()
  }

  #checkTabs(): void {
    const now = Date.now()
    for (const tab of this.#tabs) {
      if (now - tab.lastHeard > this.#options.tabTimeoutMs) this.leave(tab)
      else tab.post({ t: 'ping' })
    }
  }

  #askToken(): Promise<string> {
    const id = this.#nextToken++
    return new Promise<string>((resolve, reject) => { this.#tokens.set(id, { resolve, reject, asked: null }); this.#ask(id) })
  }

  /** Asks token `id` of a tab that can answer (again, when the one asked went away meanwhile). */
  #ask(id: number): void {
    const waiter = this.#tokens.get(id)
    if (waiter === undefined) return
    const tab = [...this.#tabs].find((t) => t.alive && t.tokenFromTab)
    if (tab === undefined) { this.#tokens.delete(id); waiter.reject(new SubwireError('auth_failed', 'no tab is left to get a token from')); return }
    waiter.asked = tab
    tab.post({ t: 'tokenPlease', id })
  }

  async #forwardStatus(client: Client): Promise<void> {
    for await (const s of client.status()) {
      if (s.type === 'gap' && s.reason === 'resume') {
        // What each subscription lost, under each holder's own sids.
        for (const tab of this.#tabs) {
          const lost = s.lost.flatMap((l) => (this.#bySid.get(l.sid)?.members.get(tab) ?? []).map((sid) => ({ ...l, sid })))
          tab.post({ t: 'status', status: statusToWire({ ...s, lost }) })
        }
        continue
      }
      if (s.type === 'gap') {
        // A topic gap is a replay subscription's (each tab's own): said to the tabs replaying that subject only.
        const holders = new Set([...this.#patterns.values()].filter((p) => p.sub?.subject === s.subject).flatMap((p) => [...p.members.keys()]))
        for (const tab of holders) tab.post({ t: 'status', status: statusToWire(s) })
        continue
      }
      if (s.type === 'slow_consumer') {
        // The worker's sid means nothing to a tab: each holder hears of it under its own sids.
        const p = this.#bySid.get(s.sid)
        if (p !== undefined) for (const [tab, sids] of p.members) for (const sid of sids) tab.post({ t: 'status', status: statusToWire({ ...s, sid }) })
        continue
      }
      // A tab says `close` itself when it hears the connection is closed (#close), after every event before it.
      if (s.type === 'close' || (s.type === 'error' && this.#told.has(s.error))) continue
      const status = statusToWire(s)
      for (const tab of this.#tabs) {
        if (client.state !== 'closed') tab.post({ t: 'state', state: client.state, server: client.server, info: client.info })
        tab.post({ t: 'status', status })
      }
    }
    // The shared client closed for good (it gave up reconnecting): every tab's subscriptions end with it.
    this.#close()
  }

  #close(): void {
    this.#gone = true
    if (this.#liveness !== null) { clearInterval(this.#liveness); this.#liveness = null }
    for (const w of this.#tokens.values()) w.reject(new SubwireError('connection_closed', 'the shared connection closed'))
    this.#tokens.clear()
    const client = this.#client
    this.#client = null
    for (const tab of this.#tabs) {
      for (const sid of tab.subs.keys()) tab.post({ t: 'subEnd', sid, error: { code: 'connection_closed', message: 'the shared connection closed' } })
      tab.subs.clear()
      if (client !== null) tab.post({ t: 'state', state: 'closed', server: client.server, info: client.info })
    }
    this.#tabs.clear()
    this.#patterns.clear()
    this.#bySid.clear()
    this.#onGone(this)
    void client?.close()
  }
}

function wireMsg(sids: number[], m: Msg, payload: Uint8Array = m.bytes.slice()): WireMsg {
  return [sids, m.subject, m.reply, m.headers, m.encoding, payload, m.seq, m.time, m.deliveryCount]
}
