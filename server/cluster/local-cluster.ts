/**
 * The cluster adapter of a broker that is its own whole cluster: no peers, so nothing leaves the node and
 * nothing arrives. It still keeps the contract (cluster-adapter.ts): it counts interest, so a test can see
 * that the router's subscribe and unsubscribe calls balance, and it refuses to start twice.
 */
import { SubwireError } from '../../shared/errors.ts'
import type { ClusterAdapter, ClusterEvent, ClusterMessage, ClusterReceiver, RoutePlan } from './cluster-adapter.ts'

export class LocalCluster implements ClusterAdapter {
  readonly kind = 'local'
  readonly clustered = false
  readonly nodeId = 'local'
  readonly link = 'up' as const
  readonly logId = null
  readonly inboxPeers = null
  #started = false
  #closed = false
  #interest = 0

  /** Plain subscriptions announced and not yet withdrawn (for tests and stats). */
  get interestCount(): number {
    return this.#interest
  }

  start(_receiver: ClusterReceiver): Promise<void> {
    if (this.#started) return Promise.reject(new SubwireError('bad_option', 'a cluster adapter is started once, by one broker'))
    this.#started = true
    return Promise.resolve()
  }

  onEvent(_listener: (e: ClusterEvent) => void): () => void {
    return () => {}
  }

  route(_subject: string): RoutePlan | null {
    return null
  }

  takeLocal(_plan: RoutePlan, _queue: string, _localMembers: number): boolean {
    return true
  }

  takeElsewhere(_plan: RoutePlan, _queue: string): boolean {
    return false
  }

  publish(_m: ClusterMessage, _plan?: RoutePlan | null): void {}

  addInterest(_subject: string, _queue: string | null): void {
    if (!this.#closed) this.#interest++
  }

  removeInterest(_subject: string, _queue: string | null): void {
    if (!this.#closed) this.#interest--
  }

  stats(): null {
    return null
  }

  hasRemoteInterest(_subject: string): boolean {
    return false
  }

  close(): Promise<void> {
    this.#closed = true
    return Promise.resolve()
  }
}
