/**
 * The page's visibility and network events, which make the client check its connection at once
 * (WHAT_USERS_ASK 12): a tab coming back to the front, or a laptop or phone back online, may hold a socket that
 * died while its timers were throttled or the device slept, and should not wait for the next heartbeat to find
 * out. A small seam (`ConnectOptions.pageEvents`) so tests and other runtimes (a SharedWorker, React Native's
 * AppState) can drive it; in a browser it is `document`'s `visibilitychange` and `window`'s `online`.
 */

/** What happened: the page became visible or hidden, or the network came back. */
export type PageEvent = 'visible' | 'hidden' | 'online'

/** A source of page events. `listen` returns the function that stops listening. */
export interface PageEvents {
  listen(listener: (event: PageEvent) => void): () => void
  /** Whether the page is hidden now (a connection made in the background says so at once). */
  isHidden?(): boolean
}

interface EventTargetLike {
  addEventListener(type: string, fn: () => void): void
  removeEventListener(type: string, fn: () => void): void
}

/** The browser's page events, or null where there is no `document` (Node, a worker). */
export function browserPageEvents(): PageEvents | null {
  const g = globalThis as { document?: EventTargetLike & { visibilityState?: string }; addEventListener?: EventTargetLike['addEventListener']; removeEventListener?: EventTargetLike['removeEventListener'] }
  const doc = g.document
  if (doc === undefined || typeof doc.addEventListener !== 'function' || typeof g.addEventListener !== 'function') return null
  const win = g as EventTargetLike
  return {
    isHidden: () => doc.visibilityState === 'hidden',
    listen(listener) {
      const onVisibility = (): void => listener(doc.visibilityState === 'hidden' ? 'hidden' : 'visible')
      const onOnline = (): void => listener('online')
      doc.addEventListener('visibilitychange', onVisibility)
      win.addEventListener('online', onOnline)
      return () => {
        doc.removeEventListener('visibilitychange', onVisibility)
        win.removeEventListener('online', onOnline)
      }
    },
  }
}
