/** The raw `ws` forwarder baseline (see broker.ts for what it does and does not do). */
import type { BenchSystem } from '../../systems.ts'
import { connectRawWs } from './client.ts'

export const rawWsSystem: BenchSystem = {
  name: 'raw-ws',
  // Imported here, not above: only the broker child loads the broker (see systems.ts, loadSystem).
  startBroker: async () => (await import('./broker.ts')).startRawWsBroker(),
  connect: connectRawWs,
}
