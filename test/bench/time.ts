/**
 * Waiting helpers. Every await in the bench goes through a deadline so that one missed event fails a step
 * instead of hanging the run (HOUSE_STYLE rule 18 applies to benches too).
 */
import { setTimeout as delay } from 'node:timers/promises'

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return delay(ms).then(() => undefined)
}

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Yields to the event loop once, after pending I/O callbacks (unlike a microtask). */
export function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Runs `task` for each index in [0, count) with at most `concurrency` in flight. */
export async function forEachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0
  async function worker(): Promise<void> {
    while (next < count) await task(next++)
  }
  const workers: Promise<void>[] = []
  for (let i = 0; i < Math.min(concurrency, count); i++) workers.push(worker())
  await Promise.all(workers)
}
