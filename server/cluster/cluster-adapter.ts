/**
 * The cluster seam: what one broker node tells the other nodes of its cluster, and what it hears from them.
 * The router is its only caller; a single broker runs `LocalCluster` (local-cluster.ts), which has no peers.
 * A Redis implementation (cluster/redis/) comes next: it is why this interface carries interest, not just
 * messages (a node should receive only what some subscription of its own wants, as the Socket.IO Redis adapter
 * and Centrifugo's Redis engine do it).
 *
 * Contract (every implementation runs test/cluster/cluster-adapter.contract.ts):
 * 1. `start(receiver)` is called once, before anything else; it resolves when the node has joined (at once for
 *    a single node) and rejects with a SubwireError when it cannot. `close()` is idempotent;
 *    after it, `publish` and the interest calls are no-ops and `receiver` is never called again.
 * 2. `publish(m)` is called synchronously, once per publish routed on this node (a client's, after validation
 *    and its publish permission, or the broker's own: replies to requests, `$SYS` events, dead letters), after
 *    local delivery, and only when `hasRemoteInterest(m.subject)` said yes. `m` is valid only during the call (the router reuses it): an implementation that
 *    keeps or sends the message copies the fields it needs before returning; its byte arrays (`payload`, `tail`)
 *    are never written again, so views of them may be kept until sent. It never throws (the publish path has
 *    no one to tell); failures are reported through the adapter's own status, never silently swallowed.
 * 3. A message published on this node never comes back to this node's `receiver` (local subscribers already
 *    have it). Messages from other nodes arrive through `receiver.receive(m)`; the router delivers them to
 *    local subscriptions only and never passes them to `publish` again (no loops between nodes). What an adapter
 *    hands to `receive` it has checked against this node's limits (a valid subject and reply subject, at most
 *    maxHeaders headers); the router checks the subject again before it enters its match cache. Every local
 *    delivery still passes the subscriber's own permission check. Topics do not capture them again: a message
 *    is stored once, by the node it was published on, in a store the nodes share.
 * 4. Interest: `addInterest(subject, queue)` for every plain subscription entering the subject index,
 *    `removeInterest(subject, queue)` for every one leaving it, with the subscription's pattern as subscribed
 *    (wildcards included) and its queue group or null. Calls are balanced per (subject, queue); an
 *    implementation may announce only the first add and the last remove of each pair.
 * 5. `hasRemoteInterest(subject)` answers, from what the node already knows (no I/O), whether another node has
 *    a subscription matching `subject`: false lets a request with no local responder get `no_responders` at
 *    once, and lets the router skip `publish` for subjects nobody else wants.
 * 6. Per-publisher order: messages one node publishes reach each other node in the order they were published.
 * Queue groups across nodes (exactly one member cluster-wide) and what crosses nodes at most once are the
 * cluster implementation's to keep; a single node keeps them locally in the router.
 */

import type { InboxPeers } from '../security/inbox-registry.ts'

/** One message crossing the seam: the fields of a publish. Valid only during the call that hands it over. */
export interface ClusterMessage {
  readonly subject: string
  readonly reply: string | null
  readonly headers: Record<string, string> | null
  readonly encoding: number
  readonly payload: Uint8Array
  /**
   * The message's encoded MSG tail (PROTOCOL §4.3: subject … payload, the payload last), when there is one: a
   * binary publisher's own bytes leaving, the bytes as another node sent them arriving. Adapters that carry it
   * spare both nodes an encode per message; without it they encode the fields.
   */
  readonly tail?: Uint8Array | null
  /**
   * Arriving only: the queue groups whose one member cluster-wide the publishing node chose on this node. Groups
   * not named here are not delivered to (another node's member takes the message); plain subscriptions always are.
   */
  readonly queues?: readonly string[] | null
  /** Arriving only: for the named queue groups alone (the node's plain subscribers had the message already). */
  readonly groupsOnly?: boolean
}

/** How one publish goes out to other nodes: made by `route`, read by `takeLocal` and `publish`. Opaque. */
export interface RoutePlan {
  readonly targets: unknown
}

/** What the cluster tells the rest of the broker. */
export type ClusterEvent =
  | { readonly type: 'node_gone'; readonly nodeId: string }
  /**
   * The link went down (`downMs` 0), or came back after `downMs`; `dropped` counts the messages for other nodes
   * this node dropped meanwhile (published while it could not reach them).
   */
  | { readonly type: 'link'; readonly link: ClusterLink; readonly downMs: number; readonly dropped: number }

/** The node's side of the seam: the router implements it. */
export interface ClusterReceiver {
  /**
   * A message another node published, for this node's local subscriptions. Returns the queue groups it names
   * that no member here took (gone, refused by permissions, at its cap), or null: the adapter may pass the
   * message on to another node's members of those groups.
   */
  receive(m: ClusterMessage): readonly string[] | null
}

/** How a node's link to the rest of its cluster is. */
export type ClusterLink = 'up' | 'down'

/** One node as the others see it (`/stats` `cluster.nodes`). */
export interface ClusterNodeView {
  readonly nodeId: string
  readonly self: boolean
  readonly connections: number
  readonly subscriptions: number
  readonly pid: number | null
  readonly host: string | null
  readonly startedAt: number | null
  /** Patterns it announced (plain and queue-group interest). */
  readonly patterns: number
}

/** The cluster as one node sees it (`/stats` `cluster`). */
export interface ClusterStats {
  readonly kind: string
  readonly name: string
  readonly nodeId: string
  readonly redis: string
  readonly link: ClusterLink
  /** Since when the link has been down (epoch ms), or null. */
  readonly downSince: number | null
  readonly nodes: readonly ClusterNodeView[]
  /** Messages sent to other nodes (one per target node), and received from them. */
  readonly sent: number
  readonly received: number
  /** Messages for other nodes dropped (link down, Redis too far behind); each is told to clients as `lost`. */
  readonly dropped: number
  /** Batches or messages from Redis that did not decode, and queue-group messages that found no member here. */
  readonly rejected: number
  readonly groupMisses: number
}

/** A cluster adapter: see the contract above. */
export interface ClusterAdapter {
  /** A short name for logs and stats: `local`, `redis`. */
  readonly kind: string
  /** This node's id in the cluster (`local` alone); work-queue members of this node are named `<nodeId>/…`. */
  readonly nodeId: string
  /** `down` while the node cannot reach its peers (Redis): it delivers locally only meanwhile. Always `up` alone. */
  readonly link: ClusterLink
  /**
   * The identity of the topics' sequence space shared by the cluster's nodes (INFO `logId`), or null for a
   * broker alone. It changes when the shared data is lost (Redis flushed), so clients replay from the start.
   */
  readonly logId: string | null
  /** Inbox ownership held on the other nodes (for the broker's InboxRegistry), or null for a broker alone. */
  readonly inboxPeers: InboxPeers | null
  /**
   * Calls `listener` when another node is taken for dead (silent past its timeout) or leaves, with its id, and
   * when this node's link changes. Returns the unsubscribe function.
   */
  onEvent(listener: (e: ClusterEvent) => void): () => void
  /** False when the node has no peers: the router then skips the seam on its hot path. */
  readonly clustered: boolean
  start(receiver: ClusterReceiver): Promise<void>
  /**
   * The plan for one publish on `subject`, or null when no other node wants it (no I/O; the router calls it
   * before local delivery, so queue groups can be decided cluster-wide).
   */
  route(subject: string): RoutePlan | null
  /**
   * For a queue group with `localMembers` members here that matches the planned publish: true when a local
   * member takes the message, false when the plan gives it to another node's member (exactly one cluster-wide).
   */
  takeLocal(plan: RoutePlan, queue: string, localMembers: number): boolean
  /**
   * A queue group the plan kept here found no local member to take the message (a publisher with echo off,
   * members at their cap): true when the plan now gives it to another node's member instead.
   */
  takeElsewhere(plan: RoutePlan, queue: string): boolean
  /** Sends the message where `plan` (or, without one, `route(m.subject)`) says. */
  publish(m: ClusterMessage, plan?: RoutePlan | null): void
  addInterest(subject: string, queue: string | null): void
  removeInterest(subject: string, queue: string | null): void
  hasRemoteInterest(subject: string): boolean
  /** The cluster as this node sees it, for `/stats` and `/metrics`; null for a node alone. */
  stats(): ClusterStats | null
  close(): Promise<void>
}
