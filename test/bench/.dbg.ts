import { ProcessSet } from './orchestrator/process-set.ts'
import { measureWindow, deliveryRate, brokerCpuRate, deliveriesInWindow, cpuSecondsPerMillion } from './orchestrator/measure.ts'
const system = (process.argv[2] ?? 'raw-ws') as 'raw-ws'
for (const win of process.argv.slice(3).map(Number)) {
const set = await ProcessSet.start({ system, subscribers: { kind: 'fanout', subject: 'x', count: 100, stalled: false, progress: 'min' }, publisher: {} }, true)
set.relayCredit()
set.publisher!.send({ type: 'job', job: { kind: 'flood', subjects: ['x'], windowMsgs: win, flush: 'fallback', flushEveryBursts: 8 } })
const w = await measureWindow(set, 1000, 3000)
const d = deliveriesInWindow(w)
console.log(win, Math.round(deliveryRate(w)), 'cpuRate', brokerCpuRate(w).toFixed(2), 'cpu/M', cpuSecondsPerMillion(w, d.total, d.elapsedMs)?.toFixed(2), 'eld', w.after.broker.eventLoopP99Ms.toFixed(1), w.after.broker.eventLoopMaxMs.toFixed(1), 'brokerDelay', (w.after.broker.t - w.before.broker.t).toFixed(0), 'rss', (w.after.broker.peakRss/2**20).toFixed(0))
await set.close()
}
