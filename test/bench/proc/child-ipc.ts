/**
 * The child side of the orchestrator link: config from BENCH_CONFIG, typed messages over the IPC channel,
 * and exit when the orchestrator goes away (a child never outlives the run).
 */
import type { ChildConfig, FromChild, ToChild } from '../ipc.ts'

/** Reads and returns this child's config, checking its role. */
export function readConfig<R extends ChildConfig['role']>(role: R): Extract<ChildConfig, { role: R }> {
  const raw = process.env.BENCH_CONFIG
  if (raw === undefined) throw new Error('BENCH_CONFIG is not set: this file is started by test/bench/run.ts')
  const config = JSON.parse(raw) as ChildConfig
  if (config.role !== role) throw new Error(`expected a ${role} config, got ${config.role}`)
  return config as Extract<ChildConfig, { role: R }>
}

/** Sends one message to the orchestrator. */
export function send(message: FromChild): void {
  process.send?.(message)
}

/** Calls `handler` for each orchestrator message; failures are reported and end the child. */
export function onMessage(handler: (message: ToChild) => void | Promise<void>): void {
  process.on('message', (message: ToChild) => {
    Promise.resolve()
      .then(() => handler(message))
      .catch(fail)
  })
}

/** Reports a fatal error to the orchestrator and exits non-zero. */
export function fail(err: unknown): void {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
  send({ type: 'error', message })
  process.exitCode = 1
  setTimeout(() => process.exit(1), 50).unref()
}

/** Installs the handlers every child needs: exit with the orchestrator, report stray errors. */
export function installChildGuards(): void {
  if (process.send === undefined) throw new Error('no IPC channel: this file is started by test/bench/run.ts')
  process.on('disconnect', () => process.exit(0))
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)
}
