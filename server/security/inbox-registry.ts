/**
 * Who owns which reply inbox (`_INBOX.<id>.…`) while authentication is on: the first connection to subscribe
 * under an id owns it until it leaves, and nobody else may subscribe there. Inbox ids are random and stay the
 * same across a client's reconnects, so requests in flight survive a reconnect; snooping on another
 * connection's replies needs a wildcard over ids, which only an explicit permission admits.
 */
export const INBOX_PREFIX = '_INBOX'

/** The inbox id a pattern names (`_INBOX.<id>.…` with a literal id), or null. */
export function inboxId(pattern: string): string | null {
  if (!pattern.startsWith(`${INBOX_PREFIX}.`)) return null
  const rest = pattern.slice(INBOX_PREFIX.length + 1)
  const dot = rest.indexOf('.')
  const id = dot < 0 ? rest : rest.slice(0, dot)
  return id === '*' || id === '>' || id === '' ? null : id
}

export class InboxRegistry<Owner> {
  readonly #owners = new Map<string, { owner: Owner; count: number }>()

  /** Claims `id` for `owner` (counting subscriptions); false when another owner holds it. */
  claim(id: string, owner: Owner): boolean {
    const held = this.#owners.get(id)
    if (held === undefined) { this.#owners.set(id, { owner, count: 1 }); return true }
    if (held.owner !== owner) return false
    held.count++
    return true
  }

  /** Releases one claim of `id` by `owner`. */
  release(id: string, owner: Owner): void {
    const held = this.#owners.get(id)
    if (held === undefined || held.owner !== owner) return
    if (--held.count === 0) this.#owners.delete(id)
  }
}
