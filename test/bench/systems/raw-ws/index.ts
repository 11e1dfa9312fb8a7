/** The raw `ws` forwarder baseline (see broker.ts for what it does and does not do). */
import type { BenchSystem } from '../../systems.ts'
import { startRawWsBroker } from './broker.ts'
import { connectRawWs } from './client.ts'

export const rawWsSystem: BenchSystem = {
  name: 'raw-ws',
  startBroker: startRawWsBroker,
  connect: connectRawWs,
}
