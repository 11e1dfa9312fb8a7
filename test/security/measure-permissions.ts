/**
 * What the permission checks of a restricted connection cost per message, with the bench's permissions
 * (test/bench/systems/subwire.ts: every bench connection is restricted). Not a test: it prints nanoseconds per
 * check, best of five rounds, so a change to permissions.ts or session.ts can be compared before and after.
 *
 *   node --conditions=source --import tsx test/security/measure-permissions.ts
 *
 * Rows: a request PUB from the SDK (reply subject on its own inbox, then the publish permission), a delivery
 * check on 10,000 distinct subjects (more than the decision cache holds, as bench G), a delivery on one
 * repeated subject (the cached path), and a responder's reply to `_INBOX.<id>.<n>` (allowance noted, then used).
 */
import { InboxRegistry } from '../../server/security/inbox-registry.ts'
import { Session } from '../../server/security/session.ts'
import type { Permissions } from '../../server/security/permissions.ts'

const BENCH_PERMISSIONS: Permissions = {
  publish: { allow: ['bench.>', 'p.>', 'acks.>', 'replay.>', 'jobs.>', '_INBOX.>', '$SW.TOPIC.>'], deny: ['admin.>'] },
  subscribe: { allow: ['>'], deny: ['admin.>', '$SYS.>'] },
}
const N = 1_000_000
const ROUNDS = 5

function session(user: string, registry: InboxRegistry): Session {
  // The constructor's registry type differs between versions; at run time it is the same object.
  const s = new Session(registry as never)
  s.setIdentity({ user, permissions: BENCH_PERMISSIONS, expiresAt: null })
  return s
}

function best(name: string, fn: (i: number) => boolean): void {
  let fastest = Infinity
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < N; i++) if (fn(i)) sink++
    const ns = Number(process.hrtime.bigint() - start) / N
    if (ns < fastest) fastest = ns
  }
  console.log(`${name.padEnd(58)} ${fastest.toFixed(1).padStart(6)} ns  (${sink === ROUNDS * N ? 'all allowed' : `${sink} allowed`})`)
}

const registry = new InboxRegistry()
const requester = session('requester', registry)
const responder = session('responder', registry)
const inbox = '_INBOX.V1StGXR8_Z5jdHi6B-myT'
requester.subscribeRefusal(`${inbox}.>`, null)
const replies = Array.from({ length: 4096 }, (_, i) => `${inbox}.${i.toString(36)}`)
const subjects = Array.from({ length: 10_000 }, (_, i) => `bench.s${i}`)
const mayReplyTo = (requester as { mayReplyTo?: (reply: string) => boolean }).mayReplyTo?.bind(requester)

best('request PUB: reply on own inbox + publish permission', (i) => (mayReplyTo === undefined || mayReplyTo(replies[i & 4095])) && requester.mayPublish('bench.req'))
best('delivery, 10,000 distinct subjects (decision cache misses)', (i) => requester.mayReceive(subjects[i % 10_000]))
best('delivery, one repeated subject (cached)', () => requester.mayReceive('bench.hot'))
best('responder: note the request, then publish its reply', (i) => { const r = replies[i & 4095]; responder.noteRequest(r); return responder.mayPublish(r) })
