/** The Socket.IO 4 baseline (see broker.ts for how subjects and queue groups are emulated, cluster.ts for two nodes). */
import type { BenchSystem } from '../../systems.ts'
import { connectSocketIo } from './client.ts'

export const socketIoSystem: BenchSystem = {
  name: 'socketio',
  // Imported here, not above: only the broker child loads the broker (see systems.ts, loadSystem).
  startBroker: async () => (await import('./broker.ts')).startSocketIoBroker(),
  cluster: {
    startShared: async () => (await import('./cluster.ts')).startSocketIoShared(),
    startNode: async (_index, _nodes, shared) => (await import('./cluster.ts')).startSocketIoNode(shared),
  },
  connect: connectSocketIo,
}
