/**
 * Where a Redis topic store keeps what, under one key prefix P (default `subwire:default:`; a broker with
 * `cluster: { name }` uses `subwire:<name>:`). Every key of one topic T starts with the Redis Cluster hash tag
 * `{P T}`, so each topic's script touches one slot; the topic registry and the append channel are global.
 *
 *   P topics                       hash  topic name → resolved config JSON (list, topicFor, overlap checks);
 *                                        field `.version` counts changes (names never hold a dot), so a
 *                                        create/update checked against one registry state commits only on it
 *   P appended                     channel  `<lastSeq> <topic>` published by every append (replay wake-ups)
 *
 *   {P T}:meta                     hash  cfg (JSON), last (lastSeq), lt (lastTime or ''), bytes, count,
 *                                        lost (highest sequence removed by a limit or purge: the gap), gseq
 *   {P T}:log                      stream  one entry per message, ID `<seq>-0`, fields in this order:
 *                                        t time, s subject, z size, e encoding, h headers JSON or '', p payload
 *   {P T}:subj                     hash  subject → newest sequence held (last, lastPerSubject)
 *   {P T}:q:<subject>              list  the subject's sequences held, oldest first (maxMsgsPerSubject, purge)
 *   {P T}:dd / {P T}:ddt           zset msgId by sequence / hash msgId → time: the de-duplication window
 *   {P T}:groups                   hash  group name → creation index (info order)
 *   {P T}:g:<len>:<G>              hash  cfg, cursor, acked, termed, dead, inflight, tick (length-prefixed name,
 *                                        so no group's keys can be read as another's)
 *   {P T}:g:<len>:<G>:p            hash  seq → pending record `<state>,<deliveries>,<at>,<last member>`
 *                                        (state r ready, f in flight, w waiting)
 *   {P T}:g:<len>:<G>:pz           zset  pending sequences (the ack floor is its lowest)
 *   {P T}:g:<len>:<G>:t            zset  seq by time: ack deadlines and delayed redeliveries (nextDeadline)
 *   {P T}:g:<len>:<G>:r            zset  seq by seq: ready for redelivery, lowest first
 *   {P T}:g:<len>:<G>:m            zset  member → load·2^33 + tick: the lightest first, FIFO within a load
 *                                        (member-loads.ts' order); load is what it holds
 *   {P T}:g:<len>:<G>:h:<member>   set   sequences the member holds
 *   {P T}:g:<len>:<G>:dl / :dr     stream / list  dead letters (message copies) and dropped sequences since
 *                                        the last pull, handed out by the next one
 *
 * The scripts derive a topic's keys from KEYS[1] (`{P T}:meta`), all in its slot. create, update and delete
 * also name `P topics` (another slot): they need one Redis, or a Cluster whose registry shares the slot.
 */

/** The registry hash of every topic under `prefix`. */
export function registryKey(prefix: string): string {
  return `${prefix}topics`
}

/** The channel appends are announced on. */
export function appendedChannel(prefix: string): string {
  return `${prefix}appended`
}

/** The meta key of a topic: KEYS[1] of its scripts, from which they derive the others. */
export function metaKey(prefix: string, topic: string): string {
  return `{${prefix}${topic}}:meta`
}

/** The hash of one consumer group (its config, for the read before a reopen); the length is in bytes, as Lua counts. */
export function groupKey(prefix: string, topic: string, group: string): string {
  return `{${prefix}${topic}}:g:${Buffer.byteLength(group)}:${group}`
}

/** The registry field holding its change counter (a dot: no topic name has one). */
export const REGISTRY_VERSION_FIELD = '.version'
