/** The Redis Streams anchor of scenario J (see server.ts for how redis-server runs, client.ts for the commands). */
import type { BenchSystem } from '../../systems.ts'
import { connectRedisStreams } from './client.ts'

export const redisStreamsSystem: BenchSystem = {
  name: 'redis-streams',
  // Imported here, not above: only the broker child starts the server (see systems.ts, loadSystem).
  startBroker: async (spec = {}) => (await import('./server.ts')).startRedisServer(spec.dataDir),
  connect: connectRedisStreams,
}
