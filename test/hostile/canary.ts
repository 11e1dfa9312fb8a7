/**
 * The canary: a real SDK client that publishes a sequence number every few milliseconds to its own subject
 * and checks that every number comes back, once, in order. It runs beside hostile clients for a whole suite;
 * anything they do that disturbs other clients (a lost, duplicated, reordered or injected message, a dropped
 * connection, a stalled broker) shows up in `check()`.
 */
import * as assert from 'uvu/assert'
import { nanoid } from 'nanoid'
import { connect, type Client } from '../../client/index.ts'
import { until, within } from '../helpers.ts'

/** Publish interval: fast enough to overlap every row, slow enough to cost nothing. */
const INTERVAL_MS = 3

export class Canary {
  readonly client: Client
  readonly subject: string
  /** Numbers published so far (the next one to publish). */
  sent = 0
  /** Numbers received in order so far (the next one expected). */
  received = 0
  /** What went wrong, in words; empty while all is well. */
  readonly problems: string[] = []
  #timer: NodeJS.Timeout | null = null

  private constructor(client: Client, subject: string) {
    this.client = client
    this.subject = subject
  }

  /** Connects (with `token` when the broker wants one), subscribes, and starts publishing. */
  static async start(url: string, token?: string): Promise<Canary> {
    const client = await within(5000, connect(url, { name: 'canary', reconnect: false, ...(token === undefined ? {} : { token }) }), 'the canary to connect')
    const canary = new Canary(client, `canary.${nanoid(8)}`)
    client.subscribe(canary.subject, {
      callback: (err, msg) => {
        if (err !== null || msg === null) { canary.problems.push(`subscription error ${err?.code ?? 'without a message'}`); return }
        const n = msg.data
        if (n !== canary.received) canary.problems.push(`expected ${canary.received}, got ${String(n)}`)
        canary.received = typeof n === 'number' ? n + 1 : canary.received + 1
      },
    })
    void (async () => {
      for await (const s of client.status()) {
        if (s.type === 'disconnect') canary.problems.push(`disconnected with ${s.code}`)
      }
    })()
    await within(5000, client.flush(), 'the canary subscription')
    canary.#timer = setInterval(canary.#tick, INTERVAL_MS)
    canary.#timer.unref()
    return canary
  }

  readonly #tick = (): void => {
    try {
      this.client.publish(this.subject, this.sent)
      this.sent++
    } catch (err) {
      this.problems.push(`publish failed: ${(err as { code?: string }).code ?? String(err)}`)
      this.#stopTimer()
    }
  }

  #stopTimer(): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
  }

  /** Asserts that everything published so far came back in order and nothing else did. */
  async check(when: string): Promise<void> {
    const target = this.sent
    await within(5000, this.client.flush(), `the canary's round trip ${when}`)
    await until(5000, () => this.received >= target || this.problems.length > 0, `the canary to receive ${target} messages ${when} (has ${this.received})`)
    assert.equal(this.problems, [], `canary ${when}`)
    assert.ok(this.sent > 0, `the canary published nothing ${when}`)
  }

  /** Stops publishing, checks the whole run, and closes. */
  async stop(when: string): Promise<void> {
    this.#stopTimer()
    try {
      await this.check(when)
      assert.is(this.received, this.sent, `canary received every number ${when}`)
    } finally {
      await within(5000, this.client.close(), 'the canary to close')
    }
  }

  close(): Promise<void> {
    this.#stopTimer()
    return this.client.close()
  }
}
