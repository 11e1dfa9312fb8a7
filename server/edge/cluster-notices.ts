/**
 * Tells every connected client when this node's link to the rest of the cluster goes down and comes back
 * (EVENT sid 0 `cluster`, PROTOCOL §4.11): meanwhile, core pub/sub crosses no nodes, so a client must hear that
 * messages from other nodes may be missing, and how many of this node's messages for others were dropped. Never
 * silence.
 */
import type { ClusterAdapter } from '../cluster/cluster-adapter.ts'
import { CONN_STATE, type ConnState } from './connection-host.ts'

/** What the notices need of a connection. */
export interface Noticed {
  readonly state: ConnState
  event(sid: number, type: string, data: Record<string, unknown>): void
}

export function noticeClusterLink(cluster: ClusterAdapter, connections: Iterable<Noticed>): void {
  cluster.onEvent((e) => {
    if (e.type !== 'link') return
    const data = { link: e.link, downMs: e.downMs, dropped: e.dropped, nodeId: cluster.nodeId }
    // Only sessions past CONNECT (and its authentication): a socket that has not logged in learns nothing.
    for (const conn of connections) if (conn.state === CONN_STATE.open) conn.event(0, 'cluster', data)
  })
}
