/**
 * What `resume: true` costs a subscriber's delivery path: one publisher, one subscriber on the same broker, N
 * messages of 64 bytes, with and without resume, alternating runs. Prints deliveries per second and the
 * broker process's CPU time per million deliveries (broker and clients share the process: read the ratio).
 *
 * node --conditions=source --import tsx test/resume/measure-resume.ts [messages] [runs]
 */
import { connect } from '../../client/index.ts'
import { startBroker, until } from '../helpers.ts'

const N = Number(process.argv[2] ?? 300_000)
const RUNS = Number(process.argv[3] ?? 3)

async function once(resume: boolean): Promise<{ perSec: number; cpuPerM: number }> {
  const b = await startBroker()
  const sub = await connect(b.url, { resume })
  const pub = await connect(b.url)
  let got = 0
  sub.subscribe('m.x', { callback: () => { got++ } })
  await sub.flush()
  const payload = new Uint8Array(64)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    pub.publish('m.x', payload)
    if (i % 1000 === 999) await pub.flush()
  }
  await until(60_000, () => got >= N, 'every message')
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await sub.close()
  await pub.close()
  await b.close()
  return { perSec: Math.round(N / (ms / 1000)), cpuPerM: (cpu.user + cpu.system) / 1e6 / (N / 1e6) }
}

for (let r = 0; r < RUNS; r++) {
  for (const resume of [false, true]) {
    const { perSec, cpuPerM } = await once(resume)
    console.log(`resume ${String(resume).padEnd(5)} ${perSec.toLocaleString('en')} msg/s, ${cpuPerM.toFixed(2)} CPU-s per million`)
  }
}
