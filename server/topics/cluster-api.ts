/**
 * The topic management API (`$SW.TOPIC.*`, PROTOCOL §8.1) of a broker in a cluster: the same requests, answers
 * and permission checks as topic-intake.ts `topicApi`, against the store every node shares, so a topic made
 * through one node is managed through any other.
 */
import { SubwireError } from '../../shared/errors.ts'
import { quoteSubject } from '../../shared/subject.ts'
import type { Session } from '../security/session.ts'
import type { TopicInfo } from '../store/topic-store.ts'
import type { Permissions } from '../security/permissions.ts'
import { mayManageTopic, visible } from './topic-access.ts'
import { asSubwireError, topicRequest, type BrokerReply } from './topic-intake.ts'
import type { ClusterTopics } from './cluster-topics.ts'

/** A topic a restricted caller may neither manage nor read, and one that does not exist, look the same. */
async function visibleInfo(rights: Permissions, topics: ClusterTopics, name: string): Promise<TopicInfo> {
  if (mayManageTopic(rights, name)) return topics.info(name)
  const info = await topics.info(name).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === 'unavailable') throw err
    return null
  })
  if (info === null || !visible(rights, info)) throw new SubwireError('permission', `not allowed to see topic ${quoteSubject(name)}`)
  return info
}

/** Answers one management request from `session` (checked by topicRequest, as on one node). Never rejects. */
export async function clusterTopicApi(topics: ClusterTopics, session: Session, subject: string, encoding: number, payload: Uint8Array): Promise<BrokerReply> {
  try {
    const r = topicRequest(session, subject, encoding, payload)
    switch (r.op) {
      case 'add': return { data: await topics.add(r.config) }
      case 'update': return { data: await topics.update(r.name, r.config) }
      case 'info': return { data: r.rights === null ? await topics.info(r.name) : await visibleInfo(r.rights, topics, r.name) }
      case 'list': {
        const all = await topics.list()
        const rights = r.rights
        return { data: rights === null ? all : all.filter((t) => visible(rights, t)) }
      }
      case 'delete': await topics.delete(r.name); return { data: true }
      case 'purge': return { data: { purged: await topics.purge(r.name, r.subject) } }
    }
  } catch (err) {
    return { error: asSubwireError(err) }
  }
}
