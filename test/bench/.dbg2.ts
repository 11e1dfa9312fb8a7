import { ProcessSet } from './orchestrator/process-set.ts'
const system = (process.argv[2] ?? 'raw-ws') as 'raw-ws'
let t = performance.now()
const lap = (what: string) => { const n = performance.now(); console.log(what, (n - t).toFixed(0)); t = n }
const set = await ProcessSet.startBroker({ system, subscribers: { kind: 'fanout', subject: 'x', count: 99, stalled: process.argv[3] === 'stall', progress: 'min' }, publisher: {} }, true)
lap('broker')
await set.startClients()
lap('clients')
set.relayCredit()
set.publisher!.send({ type: 'job', job: { kind: 'flood', subjects: ['x'], windowMsgs: 1000, flush: 'fallback', flushEveryBursts: 8 } })
await new Promise(r => setTimeout(r, 1000))
lap('run')
await set.publisher!.ask({ type: 'stop-job' }, 'job-done', 15000, 'stop')
lap('stop-job')
if (process.argv[3] === 'stall') { console.log(await set.subscribers!.ask({ type: 'unstall' }, 'unstalled', 5000, 'unstall')); lap('unstall') }
await set.close()
lap('close')
