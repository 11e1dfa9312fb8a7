import { ProcessSet } from './orchestrator/process-set.ts'
const system = (process.argv[2] ?? 'raw-ws') as 'raw-ws'
let t = performance.now()
const lap = (what: string) => { const n = performance.now(); console.log(what, (n - t).toFixed(0)); t = n }
const set = await ProcessSet.start({ system, subscribers: { kind: 'fanout', subject: 'x', count: 99, stalled: false, progress: 'min' }, publisher: {} }, true)
lap('start')
set.relayCredit()
set.publisher!.send({ type: 'job', job: { kind: 'flood', subjects: ['x'], windowMsgs: 1000, flush: 'fallback', flushEveryBursts: 8 } })
await new Promise(r => setTimeout(r, 400))
lap('warm')
for (let i = 0; i < 4; i++) {
  const m = await set.mark()
  lap(`mark ${m.broker.eventLoopMaxMs.toFixed(0)}`)
  await new Promise(r => setTimeout(r, 500))
}
await set.publisher!.ask({ type: 'stop-job' }, 'job-done', 15000, 'stop')
lap('stop-job')
await set.close()
lap('close')
