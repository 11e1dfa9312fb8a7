/** The Socket.IO 4 baseline (see broker.ts for how subjects and queue groups are emulated). */
import type { BenchSystem } from '../../systems.ts'
import { startSocketIoBroker } from './broker.ts'
import { connectSocketIo } from './client.ts'

export const socketIoSystem: BenchSystem = {
  name: 'socketio',
  startBroker: startSocketIoBroker,
  connect: connectSocketIo,
}
