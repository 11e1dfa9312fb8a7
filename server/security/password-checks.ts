/**
 * Bounds the scrypt work of password logins. Every password check costs one scrypt hash (about 40 ms of a
 * libuv thread here; an unknown user costs one too, so timing does not say which users exist), and 200
 * CONNECTs with unknown users had made a real user's login take 4–5 s or end in `connect_timeout`.
 *
 * - At most `concurrency` hashes run at once (of libuv's 4 threads, so file, DNS and deflate work still runs).
 * - Waiting attempts stand in two bounded lines: known user names and unknown ones. A free slot serves the
 *   known line first, so a flood of made-up names cannot delay a real user's login.
 * - Per address, at most `perAddress` attempts run or wait in each line, so one address cannot fill a line
 *   (loopback peers are not counted unless the broker trusts a proxy, as for the other per-address limits).
 * - An attempt that finds no room fails at once: the caller refuses it as `auth_failed`.
 *
 * The price: while the known line is served first, an attacker flooding the unknown line can tell a known name
 * by how fast its answer comes. Without a flood the two cost the same.
 */
import { isLoopback } from './addresses.ts'

/** Limits of password checking (README "Security"). */
export interface PasswordCheckLimits {
  /** scrypt hashes computed at once. */
  readonly concurrency: number
  /** Attempts waiting for a known user name. At ~20 ms a hash on two threads: about 1.3 s of waiting at most. */
  readonly knownQueue: number
  /** Attempts waiting for an unknown user name. */
  readonly unknownQueue: number
  /** Attempts one address may have running or waiting, in each line. */
  readonly perAddress: number
}

/** The defaults. */
export const PASSWORD_CHECKS: PasswordCheckLimits = Object.freeze({ concurrency: 2, knownQueue: 64, unknownQueue: 32, perAddress: 8 })

class Line {
  readonly waiting: Array<() => void> = []
  readonly perAddress = new Map<string, number>()
  readonly maxWaiting: number
  constructor(maxWaiting: number) {
    this.maxWaiting = maxWaiting
  }
}

export class PasswordChecks {
  readonly #limits: PasswordCheckLimits
  readonly #countLoopback: boolean
  readonly #known: Line
  readonly #unknown: Line
  #running = 0

  /** `countLoopback`: count loopback peers per address too (the broker trusts a proxy). */
  constructor(countLoopback: boolean, limits: PasswordCheckLimits = PASSWORD_CHECKS) {
    this.#limits = limits
    this.#countLoopback = countLoopback
    this.#known = new Line(limits.knownQueue)
    this.#unknown = new Line(limits.unknownQueue)
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running
  }

  /**
   * Runs `check` (one scrypt verification) when a slot is free, or returns null at once when there is no room
   * for it: its line is full, or its address has `perAddress` attempts there already.
   */
  run(ip: string, known: boolean, check: () => Promise<boolean>): Promise<boolean> | null {
    const line = known ? this.#known : this.#unknown
    const counted = this.#countLoopback || !isLoopback(ip)
    const mine = counted ? line.perAddress.get(ip) ?? 0 : 0
    if (mine >= this.#limits.perAddress) return null
    const free = this.#running < this.#limits.concurrency
    if (!free && line.waiting.length >= line.maxWaiting) return null
    if (counted) line.perAddress.set(ip, mine + 1)
    return new Promise<boolean>((resolve, reject) => {
      const start = (): void => {
        this.#running++
        check().then(resolve, reject).finally(() => {
          this.#running--
          if (counted) release(line, ip)
          this.#next()
        })
      }
      if (free) start()
      else line.waiting.push(start)
    })
  }

  #next(): void {
    // Queues are at most a few dozen long: shift() is fine.
    const start = this.#known.waiting.shift() ?? this.#unknown.waiting.shift()
    start?.()
  }
}

function release(line: Line, ip: string): void {
  const n = (line.perAddress.get(ip) ?? 1) - 1
  if (n <= 0) line.perAddress.delete(ip)
  else line.perAddress.set(ip, n)
}
