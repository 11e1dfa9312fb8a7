/**
 * The topic management API (`$SW.TOPIC.*`, PROTOCOL §8.1) of a broker in a cluster: the same requests, answers
 * and permission checks as topic-intake.ts `topicApi`, against the store every node shares, so a topic made
 * through one node is managed through any other.
 */
import { decodePayload } from '../../shared/payload-codec.ts'
import { SubwireError } from '../../shared/errors.ts'
import { TOPIC_API } from '../../shared/protocol.ts'
import { quoteSubject } from '../../shared/subject.ts'
import type { Session } from '../security/session.ts'
import type { TopicConfig, TopicInfo } from '../store/topic-store.ts'
import type { Permissions } from '../security/permissions.ts'
import { checkConfig, checkManage, mayManageTopic, mayReadTopic, topicRights } from './topic-access.ts'
import { asSubwireError, type BrokerReply } from './topic-intake.ts'
import type { ClusterTopics } from './cluster-topics.ts'

function field(body: unknown, key: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined
}

function visible(rights: Permissions, info: TopicInfo): boolean {
  return mayManageTopic(rights, info.name) || mayReadTopic(rights, info.config.subjects)
}

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

/** Answers one management request from `session` (permissions as topic-access.ts says). Never rejects. */
export async function clusterTopicApi(topics: ClusterTopics, session: Session, subject: string, encoding: number, payload: Uint8Array): Promise<BrokerReply> {
  try {
    const rights = topicRights(session)
    const body = decodePayload(encoding, payload)
    const name = field(body, 'name')
    const needName = (): string => {
      if (typeof name !== 'string') throw new SubwireError('bad_option', 'the request needs a topic name')
      return name
    }
    const managed = (): string => {
      const n = needName()
      if (rights !== null) checkManage(rights, n)
      return n
    }
    switch (subject) {
      case TOPIC_API.add: {
        if (rights !== null) checkConfig(rights, body as TopicConfig)
        return { data: await topics.add(body as TopicConfig) }
      }
      case TOPIC_API.update: {
        const n = managed()
        const config = field(body, 'config') as TopicConfig
        if (rights !== null) checkConfig(rights, config)
        return { data: await topics.update(n, config) }
      }
      case TOPIC_API.info: return { data: rights === null ? await topics.info(needName()) : await visibleInfo(rights, topics, needName()) }
      case TOPIC_API.list: {
        const all = await topics.list()
        return { data: rights === null ? all : all.filter((t) => visible(rights, t)) }
      }
      case TOPIC_API.delete: await topics.delete(managed()); return { data: true }
      case TOPIC_API.purge: {
        const n = managed()
        const only = field(body, 'subject')
        return { data: { purged: await topics.purge(n, typeof only === 'string' ? only : undefined) } }
      }
      default: throw new SubwireError('bad_option', `unknown topic API ${quoteSubject(subject)}`)
    }
  } catch (err) {
    return { error: asSubwireError(err) }
  }
}
