/**
 * `c.topics`: managing topics from a client, as requests on the broker's `$SW.TOPIC.*` subjects (PROTOCOL §8.1).
 * The broker answers with the result, or with an error status that rejects with its typed code. With
 * authentication on, a restricted user needs `topics.manage` naming the topic (and, to create or update one,
 * publish and subscribe rights on all its subjects): otherwise every call rejects with `permission`.
 */
import { TOPIC_API } from '../shared/protocol.ts'

/** A topic's configuration (PROTOCOL §8.1). */
export interface TopicConfig {
  name: string
  subjects: string[]
  maxMsgs?: number
  maxBytes?: number
  maxAgeMs?: number
  maxMsgsPerSubject?: number
  discard?: 'old' | 'new'
  duplicateWindowMs?: number
  /** 'file' keeps the topic in files under the broker's `dataDir` (it survives restarts). @default 'memory' */
  storage?: 'memory' | 'file'
  /**
   * File topics: when writes are synced to stable storage. 'always' confirms a publish only once it is (one
   * sync for every publish meanwhile); a number syncs every that many ms; 'never' leaves it to the OS.
   * @default 'always'
   */
  fsync?: 'always' | 'never' | number
}

/** A consumer group's state, as `info` reports it. */
export interface TopicGroupInfo {
  name: string
  members: number
  ackFloor: number
  nextSeq: number
  inFlight: number
  redeliveries: number
  acked: number
  terminated: number
  deadLettered: number
  [key: string]: unknown
}

/** What `info` returns. */
export interface TopicInfo {
  name: string
  messages: number
  bytes: number
  firstSeq: number
  lastSeq: number
  /** null while the topic holds nothing. */
  firstTime: number | null
  lastTime: number | null
  config: Required<Pick<TopicConfig, 'name' | 'subjects' | 'discard'>> & TopicConfig
  consumers: TopicGroupInfo[]
  /** Where its messages live: 'memory' or 'file'. */
  storage: string
  /** Bytes its files take on disk (0 for memory topics). */
  diskBytes: number
  /** Sequences found unreadable (corrupt) when the broker reopened it; readers get a gap for each. */
  lost: Array<{ fromSeq: number; toSeq: number }>
}

/** How the client asks the broker (a request with the broker's answer decoded). */
export type TopicRequester = (subject: string, body: unknown) => Promise<unknown>

export class TopicsApi {
  readonly #request: TopicRequester

  constructor(request: TopicRequester) {
    this.#request = request
  }

  /** @throws SubwireError `topic_exists`, `topic_overlap`, `bad_topic_config`, `permission` */
  async add(config: TopicConfig): Promise<TopicInfo> {
    return (await this.#request(TOPIC_API.add, config)) as TopicInfo
  }

  /** @throws SubwireError `no_topic`, `topic_overlap`, `bad_topic_config`, `permission` */
  async update(name: string, config: TopicConfig): Promise<TopicInfo> {
    return (await this.#request(TOPIC_API.update, { name, config })) as TopicInfo
  }

  /** @throws SubwireError `no_topic`; `permission` for a topic the user may neither manage nor read (or that does not exist) */
  async info(name: string): Promise<TopicInfo> {
    return (await this.#request(TOPIC_API.info, { name })) as TopicInfo
  }

  /** Every topic; for a restricted user only those it may manage or read (subscribe to all their subjects). */
  async list(): Promise<TopicInfo[]> {
    return (await this.#request(TOPIC_API.list, {})) as TopicInfo[]
  }

  /** @throws SubwireError `no_topic`, `permission` */
  async delete(name: string): Promise<void> {
    await this.#request(TOPIC_API.delete, { name })
  }

  /**
   * Removes messages (all, or those on subjects matching `subject`); returns how many.
   * @throws SubwireError `no_topic`, `permission`
   */
  async purge(name: string, options: { subject?: string } = {}): Promise<number> {
    const r = (await this.#request(TOPIC_API.purge, { name, ...options })) as { purged: number }
    return r.purged
  }
}
