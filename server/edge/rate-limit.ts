/** A token bucket: `rate` tokens a second, holding at most `burst`. Used for per-connection rate limits. */
export class TokenBucket {
  readonly #rate: number
  readonly #burst: number
  #tokens: number
  #last: number

  constructor(ratePerSecond: number, burst = ratePerSecond, now = Date.now()) {
    this.#rate = ratePerSecond
    this.#burst = burst
    this.#tokens = burst
    this.#last = now
  }

  /** Takes `n` tokens (going into debt if need be); returns how many ms until the bucket is out of debt. */
  take(n: number, now = Date.now()): number {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000)
      this.#last = now
    }
    this.#tokens -= n
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.#rate)
  }
}
