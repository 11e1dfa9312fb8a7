/**
 * Publisher child: one publishing connection (plus a latency-probe connection when configured) that runs
 * the jobs the orchestrator sends, one at a time, and answers `mark` with its counters.
 */
import { loadSystem, type BenchClient } from '../systems.ts'
import type { PublisherJob, PublisherJobResult } from '../ipc.ts'
import { fail, installChildGuards, onMessage, readConfig, send } from './child-ipc.ts'
import { Credit, JobState } from './jobs/job-state.ts'
import { runFlood } from './jobs/flood.ts'
import { LatencyProbe, runPaced, runTrickle } from './jobs/paced.ts'
import { runRequests } from './jobs/requests.ts'
import { runFill, runPublishAck } from './jobs/topic-jobs.ts'

async function runJob(client: BenchClient, job: PublisherJob, state: JobState, credit: Credit, probe: LatencyProbe | undefined): Promise<PublisherJobResult> {
  const counters = (): PublisherJobResult => ({ sent: state.sent, completed: state.completed, failed: state.failed })
  switch (job.kind) {
    case 'flood':
      await runFlood(client, job, state, credit)
      return counters()
    case 'requests':
      await runRequests(client, job, state)
      return counters()
    case 'trickle':
      await runTrickle(client, job, state)
      return counters()
    case 'paced':
      if (probe === undefined) throw new Error('a paced job needs a publisher started with probeSubject')
      return runPaced(client, job, state, probe)
    case 'publish-ack':
      return runPublishAck(client, job, state)
    case 'fill':
      return runFill(client, job, state)
    default:
      return assertNever(job)
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

async function main(): Promise<void> {
  installChildGuards()
  const config = readConfig('publisher')
  const system = await loadSystem(config.system)
  const client = await system.connect(config.url, 'publisher')
  let probe: LatencyProbe | undefined
  const attachProbe = async (subject: string): Promise<void> => {
    const attached = new LatencyProbe()
    await attached.attach(await system.connect(config.probeUrl ?? config.url, 'probe'), subject)
    probe = attached
  }
  if (config.probeSubject !== undefined && config.probeLast !== true) await attachProbe(config.probeSubject)
  const state = new JobState()
  const credit = new Credit()
  let running = false

  onMessage((message) => {
    switch (message.type) {
      case 'job':
        if (running) throw new Error('publisher: a job is already running')
        running = true
        state.beginJob()
        runJob(client, message.job, state, credit, probe)
          .then((result) => {
            running = false
            send({ type: 'job-done', result })
          })
          .catch(fail)
        break
      case 'stop-job':
        state.stopRequested = true
        break
      case 'credit':
        credit.update(message.delivered)
        break
      case 'attach-probe':
        if (config.probeSubject === undefined || probe !== undefined) throw new Error('publisher: attach-probe without a pending probe')
        attachProbe(config.probeSubject)
          .then(() => send({ type: 'probe-attached' }))
          .catch(fail)
        break
      case 'mark':
        state.marks.push(performance.now())
        send({ type: 'mark', publisher: { t: performance.now(), cpuUs: cpuMicros(), sent: state.sent, completed: state.completed, failed: state.failed } })
        break
      case 'shutdown':
        process.exit(0)
        break
      case 'unstall':
      case 'replay':
      case 'drain':
        break
      default:
        assertNever(message)
    }
  })
  send({ type: 'ready' })
}

function assertNever(value: never): never {
  throw new Error(`unexpected: ${JSON.stringify(value)}`)
}

main().catch(fail)
