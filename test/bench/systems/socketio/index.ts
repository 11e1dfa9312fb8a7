/** The Socket.IO 4 baseline (see broker.ts for how subjects and queue groups are emulated). */
import type { BenchSystem } from '../../systems.ts'
import { connectSocketIo } from './client.ts'

export const socketIoSystem: BenchSystem = {
  name: 'socketio',
  // Imported here, not above: only the broker child loads the broker (see systems.ts, loadSystem).
  startBroker: async () => (await import('./broker.ts')).startSocketIoBroker(),
  connect: connectSocketIo,
}
