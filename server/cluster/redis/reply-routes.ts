/**
 * Where replies go: a request that came from another node names its reply subject, and the reply must reach
 * the requester's node even when the requester's inbox interest has not arrived here yet (it subscribed a
 * moment before it published; NATS routes replies the same way). Two generations of reply → node, swapped every
 * GENERATION_MS or when one fills, so a reply subject is remembered between one and two generations and a
 * flood of requests costs bounded memory.
 */
const GENERATION_MS = 30_000
const GENERATION_MAX = 100_000
const INBOX = '_INBOX.'

/**
 * What a reply subject is remembered by: an inbox by its id (`_INBOX.<id>`: one entry per requester, whatever
 * its number of requests; the SDK's replies are `_INBOX.<id>.<n>`), any other subject as it is.
 */
function routeKey(subject: string): string {
  if (!subject.startsWith(INBOX)) return subject
  const dot = subject.indexOf('.', INBOX.length)
  return dot < 0 ? subject : subject.slice(0, dot)
}

export class ReplyRoutes {
  #current = new Map<string, string>()
  #previous = new Map<string, string>()
  #since = Date.now()

  remember(reply: string, nodeId: string): void {
    const now = Date.now()
    if (this.#current.size >= GENERATION_MAX || now - this.#since >= GENERATION_MS) {
      this.#previous = this.#current
      this.#current = new Map()
      this.#since = now
    }
    this.#current.set(routeKey(reply), nodeId)
  }

  lookup(subject: string): string | undefined {
    if (this.#current.size === 0 && this.#previous.size === 0) return undefined
    const key = routeKey(subject)
    return this.#current.get(key) ?? this.#previous.get(key)
  }
}
