/**
 * Shared pieces of the Redis-only store tests: stores under a fresh prefix (two "nodes" are two stores on the
 * same prefix), closed after each test, and the error code of a failing call.
 */
import { SubwireError } from '../../../shared/errors.ts'
import { RedisTopicStore, type RedisTopicStoreOptions } from '../../../server/store/redis/redis-store.ts'

let prefixes = 0

/** A prefix no other test uses. */
export function freshPrefix(): string {
  prefixes++
  return `t:${process.pid}:${prefixes}:`
}

/** Opens stores and closes every one of them on `closeAll`. */
export class Stores {
  readonly #open: RedisTopicStore[] = []

  open(options: RedisTopicStoreOptions): RedisTopicStore {
    const store = new RedisTopicStore(options)
    this.#open.push(store)
    return store
  }

  async closeAll(): Promise<void> {
    for (const store of this.#open.splice(0)) await store.close()
  }
}

/** The SubwireError code `fn` rejects with, or 'no error'. */
export async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
    return 'no error'
  } catch (err) {
    return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
