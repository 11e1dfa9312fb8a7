/**
 * H: topics (retained, replayable logs). HOOK: subwire has no topics yet. When server/topic-log.ts lands,
 * replace this body with a run (append rate, replay rate from offset 0, catch-up latency) and give the
 * baselines an equivalent or mark them n/a.
 */
import type { Metric, Scenario } from './types.ts'

export const TOPICS_NOT_IMPLEMENTED = 'n/a (topics not implemented)'

export const topicsScenario: Scenario = {
  id: 'H',
  title: 'topics',
  run(ctx): Promise<Metric[]> {
    ctx.log(`H: ${TOPICS_NOT_IMPLEMENTED}`)
    return Promise.resolve([{ key: 'H.topics', label: 'H topics', unit: '', value: null, better: 'info', note: TOPICS_NOT_IMPLEMENTED }])
  },
}
