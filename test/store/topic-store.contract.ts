/**
 * The TopicStore contract (HOUSE_STYLE 13): one suite every store implementation runs, so the in-memory store,
 * a file-backed store and a Redis Streams store all keep the same promises. Its parts live in
 * `test/store/contract/`, one file per area; this file is the entry point.
 *
 * This file does not end in `.test.ts` on purpose: the runner only picks up concrete suites such as
 * `test/store/memory-store.test.ts`, which call `runTopicStoreContract`.
 *
 * @example runTopicStoreContract('memory', (env) => new MemoryTopicStore({ now: env.now }))
 */
import { makeContract, type MakeStore, type TopicStoreContractOptions } from './contract/harness.ts'
import { topicsContract } from './contract/topics.ts'
import { appendContract, readContract } from './contract/messages.ts'
import { limitsContract } from './contract/limits.ts'
import { groupsContract } from './contract/groups.ts'
import { logPropertiesContract } from './contract/log-properties.ts'
import { groupPropertiesContract } from './contract/group-properties.ts'

export type { ContractEnv, MakeStore, TopicStoreContractOptions } from './contract/harness.ts'

/**
 * Registers and runs the contract suites for one store. `makeStore` gets the suite's manual clock and must make
 * the store read time only from `env.now` (or pass `controllableClock: false` to skip the tests that move it).
 */
export function runTopicStoreContract(name: string, makeStore: MakeStore, options: TopicStoreContractOptions = {}): void {
  const contract = makeContract(name, makeStore, options)
  const parts = [topicsContract, appendContract, readContract, limitsContract, groupsContract, logPropertiesContract, groupPropertiesContract]
  for (const part of parts) part(contract)
  contract.run()
}
