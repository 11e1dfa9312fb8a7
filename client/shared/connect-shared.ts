/**
 * `connect(url, { shared: true })`: the tab joins the origin's SharedWorker, which holds one connection for
 * every tab (shared-connection.ts). Loaded by `connect()` with a dynamic `import()` only when `shared` is set,
 * so an application that never shares bundles none of this (bundlers split it into a chunk of its own).
 *
 * Where `SharedWorker` is missing (Node, Safari before 16, some mobile browsers) or the worker cannot be
 * started, the tab gets a connection of its own: a plain `Client` whose every `status()` iterator starts with a
 * `shared_fallback` event saying why.
 */
import { SubwireError } from '../../shared/errors.ts'
import { Client } from '../client.ts'
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_TAB_TIMEOUT, type ConnectOptions, type SharedConnectOptions, type SharedOptions } from '../options.ts'
import type { Status } from '../status.ts'
import { browserPageEvents } from '../visibility.ts'
import { TabClient, type SharedClient } from './tab-client.ts'
import type { WorkerConnectOptions } from './wire.ts'

/** Options a shared connection cannot carry to the worker, and why. */
const REFUSED: ReadonlyArray<[keyof SharedConnectOptions, string]> = [
  ['WebSocket', 'the socket is opened in the worker, which cannot be handed a class'],
  ['echo', 'tabs share one connection: echo: false would also hide other tabs\' publishes'],
  ['pageEvents', 'the worker has no page: each tab forwards its own visibility and online events'],
]


/**
 * Joins (or starts) the shared connection for these servers and options.
 * @throws SubwireError `bad_option` for an option a shared connection cannot honour; otherwise as `connect()`
 */
export async function connectShared(servers: string | string[], options: SharedConnectOptions): Promise<SharedClient> {
  const list = Array.isArray(servers) ? [...servers] : [servers]
  if (list.length === 0) throw new SubwireError('bad_option', 'connect() needs at least one server URL')
  const shared: SharedOptions = typeof options.shared === 'object' && options.shared !== null ? options.shared : {}
  if (typeof options.shared !== 'boolean' && (typeof options.shared !== 'object' || options.shared === null)) {
    throw new SubwireError('bad_option', `shared must be a boolean or { workerUrl?, tabTimeoutMs? }, got ${String(options.shared)}`)
  }
  for (const key of Object.keys(shared)) {
    if (key !== 'workerUrl' && key !== 'tabTimeoutMs') throw new SubwireError('bad_option', `unknown shared option ${key}`)
  }
  const tabTimeoutMs = shared.tabTimeoutMs ?? DEFAULT_TAB_TIMEOUT
  if (!Number.isSafeInteger(tabTimeoutMs) || tabTimeoutMs < 100 || tabTimeoutMs > 600_000) {
    throw new SubwireError('bad_option', `shared.tabTimeoutMs must be an integer from 100 to 600000, got ${String(shared.tabTimeoutMs)}`)
  }
  if (shared.workerUrl !== undefined && typeof shared.workerUrl !== 'string' && !(shared.workerUrl instanceof URL)) {
    throw new SubwireError('bad_option', 'shared.workerUrl must be a string or a URL')
  }
  for (const [key, why] of REFUSED) {
    if (options[key] !== undefined && !(key === 'echo' && options.echo === true)) {
      throw new SubwireError('bad_option', `${key} cannot be used with shared: true (${why})`)
    }
  }
  if (typeof SharedWorker !== 'function') return fallback(list, options, 'SharedWorker is not available here')
  // Written out in full, the global `SharedWorker` with a literal URL and options, so that Vite and webpack 5 see
  // the worker and bundle it (they look for exactly this expression).
  const open = (): SharedWorker => shared.workerUrl === undefined
    ? new SharedWorker(new URL('./shared-worker.js', import.meta.url), { type: 'module', name: 'subwire' })
    : new SharedWorker(shared.workerUrl, { type: 'module', name: 'subwire' })
  let worker: SharedWorker
  try {
    worker = open()
  } catch (err) {
    return fallback(list, options, `the SharedWorker could not be started (${String(err)})`)
  }
  const token = typeof options.token === 'function' ? options.token : null
  const wire: WorkerConnectOptions = {
    tokenFromTab: token !== null,
    tabTimeoutMs,
  }
  for (const key of ['name', 'user', 'password', 'reconnect', 'maxPendingBytes', 'connectTimeoutMs', 'checkTimeoutMs', 'resume'] as const) {
    if (options[key] !== undefined) (wire as unknown as Record<string, unknown>)[key] = options[key]
  }
  if (typeof options.token === 'string') wire.token = options.token
  if (options.validate !== undefined && typeof options.validate !== 'function') throw new SubwireError('bad_option', 'validate must be a function')
  const tab = new TabClient(list, worker.port, token, options.validate ?? null, { timeoutMs: tabTimeoutMs, reopen: () => open().port })
  const failedToLoad = new Promise<never>((_, reject) => {
    worker.onerror = () => reject(new SubwireError('connection_refused', 'the SharedWorker script failed to load'))
  })
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    // The worker's own dial has connectTimeoutMs per URL; this bounds a worker that never answers at all.
    const ms = (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT) * (list.length + 1)
    timer = setTimeout(() => reject(new SubwireError('timeout', `the SharedWorker did not answer within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([tab.start({ t: 'hello', servers: list, options: wire }), failedToLoad, deadline])
  } catch (err) {
    await tab.close()
    if (err instanceof SubwireError && err.code === 'connection_refused' && err.message.includes('SharedWorker')) {
      return fallback(list, options, err.message)
    }
    throw err
  } finally {
    clearTimeout(timer)
    worker.onerror = null
  }
  watchPage(tab)
  return tab
}

/**
 * The page's life, told to the worker: leaving (`pagehide`, which fires on every close, reload and navigation,
 * also into the back/forward cache; not `beforeunload`, which also fires when the user then stays), coming back
 * from that cache, becoming visible, going online. A killed tab says nothing: the worker's pings find it.
 */
function watchPage(tab: TabClient): void {
  const g = globalThis as { addEventListener?: (type: string, fn: (ev: { persisted?: boolean }) => void) => void; removeEventListener?: (type: string, fn: (ev: { persisted?: boolean }) => void) => void }
  if (typeof g.addEventListener !== 'function' || typeof g.removeEventListener !== 'function') return
  const add = g.addEventListener.bind(globalThis)
  const remove = g.removeEventListener.bind(globalThis)
  const onHide = (): void => tab.bye()
  const onShow = (ev: { persisted?: boolean }): void => { if (ev.persisted === true) tab.back() }
  add('pagehide', onHide)
  add('pageshow', onShow)
  const stop = browserPageEvents()?.listen((e) => { if (e !== 'hidden') tab.check() })
  void tab.closed.then(() => {
    remove('pagehide', onHide)
    remove('pageshow', onShow)
    stop?.()
  })
}

/** A connection of the tab's own, whose status iterators each start by saying why it is not shared. */
async function fallback(servers: string[], options: SharedConnectOptions, reason: string): Promise<SharedClient> {
  const { shared: _, ...own } = options
  const client = new FallbackClient(servers, own, reason)
  await client.start()
  return client
}

class FallbackClient extends Client {
  readonly #reason: string

  constructor(servers: string[], options: ConnectOptions, reason: string) {
    super(servers, options)
    this.#reason = reason
  }

  override status(): AsyncIterableIterator<Status> {
    const inner = super.status()
    let first: Status | null = { type: 'shared_fallback', reason: this.#reason }
    const it: AsyncIterableIterator<Status> = {
      next: () => {
        if (first === null) return inner.next()
        const value = first
        first = null
        return Promise.resolve({ value, done: false })
      },
      return: (v?: unknown) => inner.return?.(v) ?? Promise.resolve({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => it,
    }
    return it
  }
}
