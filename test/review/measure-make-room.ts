/**
 * Cost of one logged MSG once all session logs together are at resumeMaxTotalBytes, by how many owners
 * (identities) hold sessions: the registry's makeRoom (session-registry.ts) looks for the owner holding the most
 * bytes on every append. A fan-out to S resumable sessions of distinct users then costs S × owners.
 * Run: node --conditions=source --import tsx test/review/measure-make-room.ts
 */
import { Delivery } from '../../server/outbound/delivery.ts'
import { resolveConfig } from '../../server/options.ts'
import { SessionRegistry } from '../../server/edge/session-registry.ts'

const PREFIX = Uint8Array.of(1)
const d = new Delivery().load('a.bc', null, null, 1, new Uint8Array(36), null)

for (const owners of [10, 1000, 10_000]) {
  // Each owner's one session holds about the same bytes; all together fill the total budget.
  const config = resolveConfig({ resumeMaxTotalBytes: owners * 2048, resumeMaxBytes: 8192 })
  const reg = new SessionRegistry(config)
  const sessions = Array.from({ length: owners }, (_, i) => reg.create(`user${i}`, `u:user${i}`))
  for (let round = 0; round < 30; round++) for (const s of sessions) s.log.append(1, PREFIX, d)
  const appends = 20_000
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < appends; i++) sessions[i % owners].log.append(1, PREFIX, d)
  const ns = Number(process.hrtime.bigint() - t0) / appends
  console.log(`${owners} owners, budget full: ${(ns / 1000).toFixed(2)} µs per logged MSG (${(ns * owners / 1e6).toFixed(1)} ms per publish fanned out to every session)`)
  reg.close()
}
