/** The nats-server baseline (see server.ts for how nats-server runs, client.ts for the nats.ws client). */
import type { BenchSystem } from '../../systems.ts'
import { connectNats } from './client.ts'
import { freePort } from '../server-process.ts'

export const natsSystem: BenchSystem = {
  name: 'nats',
  // Imported here, not above: only the broker child starts the server (see systems.ts, loadSystem).
  startBroker: async () => (await import('./server.ts')).startNatsServer(),
  /**
   * Two nats-server nodes joined by routes, each listing the other's route port (what they share is only those
   * ports, handed out before either starts). A node is ready once `/routez` counts its route.
   */
  cluster: {
    async startShared(nodes) {
      const ports: number[] = []
      for (let i = 0; i < nodes; i++) ports.push(await freePort())
      return { info: JSON.stringify(ports), close: () => Promise.resolve() }
    },
    async startNode(index, _nodes, shared) {
      const ports = JSON.parse(shared) as number[]
      const listen = ports[index]
      if (listen === undefined) throw new Error(`no route port for nats node ${index}`)
      return (await import('./server.ts')).startNatsServer({ listen, routes: ports.filter((_, i) => i !== index) })
    },
  },
  connect: connectNats,
}
