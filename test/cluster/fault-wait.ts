/**
 * Waiting, in the fault tests, until interest has crossed the cluster: a subscription made on one node is
 * known to the others a moment later (through Redis), and a test must not count messages published before.
 */
import type { Client } from '../../client/index.ts'
import { sleep, within } from '../helpers.ts'

const PROBE = '__probe__'
const ROUNDS = 200
const ROUND_MS = 50

/**
 * Publishes probes on `subject` from `pub` until each of `subscribers` has received one through a probe
 * subscription made after its real ones (interest crosses in order, so theirs has crossed too). The probes
 * are strings: the tests' collectors keep numbers only. Bounded: 200 rounds of 50 ms.
 */
export async function settle(pub: Client, subscribers: readonly Client[], subject: string): Promise<void> {
  const seen = subscribers.map(() => false)
  const probes = subscribers.map((c, i) => c.subscribe(subject, { callback: (_err, m) => { if (m?.data === PROBE) seen[i] = true } }))
  await within(5000, Promise.all(subscribers.map((c) => c.flush())), 'the probe subscriptions')
  for (let round = 0; round < ROUNDS && seen.includes(false); round++) {
    pub.publish(subject, PROBE)
    await sleep(ROUND_MS)
  }
  for (const p of probes) p.unsubscribe()
  await within(5000, Promise.all(subscribers.map((c) => c.flush())), 'the probes to go')
  if (seen.includes(false)) throw new Error(`interest in ${subject} did not cross the cluster within ${ROUNDS * ROUND_MS} ms (seen: ${seen.join(', ')})`)
}
