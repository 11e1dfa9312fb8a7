/** The nats-server baseline (see server.ts for how nats-server runs, client.ts for the nats.ws client). */
import type { BenchSystem } from '../../systems.ts'
import { connectNats } from './client.ts'

export const natsSystem: BenchSystem = {
  name: 'nats',
  // Imported here, not above: only the broker child starts the server (see systems.ts, loadSystem).
  startBroker: async () => (await import('./server.ts')).startNatsServer(),
  connect: connectNats,
}
