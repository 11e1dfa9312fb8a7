/**
 * The file store (server/store/file/) runs the one TopicStore contract, under each fsync policy: what the memory
 * store promises, it promises on disk. Its own promises (restarts, crashes, corruption, full disks) are in the
 * other files of this folder.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openTopicStore } from '../../../server/store/file/file-store.ts'
import type { FsyncPolicy, TopicStore } from '../../../server/store/topic-store.ts'
import { runTopicStoreContract, type ContractEnv } from '../topic-store.contract.ts'

/** A file store in a fresh directory, removed when the store closes. */
export function tempFileStore(env: ContractEnv, defaultFsync: FsyncPolicy): TopicStore {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-file-'))
  const { store } = openTopicStore({ dataDir: dir, now: env.now, defaultStorage: 'file', defaultFsync })
  const close = store.close.bind(store)
  store.close = () => { close(); rmSync(dir, { recursive: true, force: true }) }
  return store
}

runTopicStoreContract('file, fsync never', (env) => tempFileStore(env, 'never'))
runTopicStoreContract('file, fsync always', (env) => tempFileStore(env, 'always'), { numRuns: 25 })
