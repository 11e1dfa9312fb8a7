import { ProcessSet } from './orchestrator/process-set.ts'
import { measureWindow } from './orchestrator/measure.ts'
const set = await ProcessSet.start({ system: 'raw-ws', subscribers: { kind: 'fanout', subject: 'x', count: 100, stalled: false, progress: 'min' }, publisher: {} }, true)
set.relayCredit()
set.publisher!.send({ type: 'job', job: { kind: 'flood', subjects: ['x'], windowMsgs: 1000, flush: 'fallback', flushEveryBursts: 8 } })
const w = await measureWindow(set, 500, 1500)
console.log(JSON.stringify({ b: w.before.broker, a: w.after.broker, ps: w.before.publisher, pa: w.after.publisher, st: [w.before.subscribers?.t, w.after.subscribers?.t] }, null, 1))
await set.close()
