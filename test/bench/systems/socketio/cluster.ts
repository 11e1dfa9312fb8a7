/**
 * The Socket.IO anchor of the cluster scenarios (issue 14): each node is the baseline broker (broker.ts) with
 * `@socket.io/redis-adapter` on one in-memory redis-server, a publishing and a subscribed ioredis client per
 * node, as that adapter's documentation sets it up. A room broadcast is published to Redis once and every
 * other node emits it to its own members of the room; nothing tells a node which rooms the others have, so
 * every node gets every broadcast. Queue groups stay per node (broker.ts): there is no cluster-wide one.
 */
import type { BrokerHandle, SharedHandle } from '../../systems.ts'

export async function startSocketIoShared(): Promise<SharedHandle> {
  const redis = await (await import('../redis-streams/server.ts')).startMemoryRedisServer()
  return { info: redis.url, serverPid: redis.serverPid, close: () => redis.close() }
}

export async function startSocketIoNode(redisUrl: string): Promise<BrokerHandle> {
  const [{ Redis }, { createAdapter }, { startSocketIoBroker }] = await Promise.all([
    import('ioredis'),
    import('@socket.io/redis-adapter'),
    import('./broker.ts'),
  ])
  const pub = new Redis(redisUrl)
  const sub = pub.duplicate()
  await Promise.all([pub.ping(), sub.ping()])
  return startSocketIoBroker({
    adapter: createAdapter(pub, sub),
    close: async () => {
      await Promise.all([pub.quit(), sub.quit()])
    },
  })
}
