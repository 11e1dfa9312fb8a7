/**
 * The cluster's control channel (`<prefix>interest`): what nodes tell each other besides messages. JSON, one
 * object per PUBLISH, `{ n: nodeId, t: type, k?: changes }`:
 * - `set`: interest counts changed, `k: [[queue \0 pattern, count], …]` (0 removes);
 * - `inbox`: inbox claims, `k: [[id, ownerKey, 1 held | 0 released], …]` (cluster-inboxes.ts);
 * - `reset`: the node rewrote its hashes (joined, or back after an outage): read them again;
 * - `bye`: the node left cleanly.
 * Anyone who can publish on the Redis can publish here, so everything is checked (parseControl) and a
 * malformed message is counted and ignored.
 */

/** Node ids are one token of safe characters (cluster-options.ts NAME). */
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/

export type Control =
  | { readonly node: string; readonly type: 'reset' | 'bye' }
  | { readonly node: string; readonly type: 'set' | 'inbox'; readonly changes: readonly unknown[] }

export function parseControl(text: string): Control | null {
  let m: { n?: unknown; t?: unknown; k?: unknown }
  try {
    m = JSON.parse(text) as typeof m
  } catch {
    return null
  }
  if (m === null || typeof m !== 'object' || typeof m.n !== 'string' || !NODE_ID.test(m.n)) return null
  if (m.t === 'reset' || m.t === 'bye') return { node: m.n, type: m.t }
  if ((m.t === 'set' || m.t === 'inbox') && Array.isArray(m.k)) return { node: m.n, type: m.t, changes: m.k as unknown[] }
  return null
}

export function controlMessage(node: string, type: Control['type'], changes?: readonly unknown[]): string {
  return JSON.stringify(changes === undefined ? { n: node, t: type } : { n: node, t: type, k: changes })
}
