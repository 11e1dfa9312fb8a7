/**
 * The topic scripts: each admin or log operation is one script (atomic in Redis), run after LOG_LIB and
 * GROUP_LIB. Arguments are strings; '' stands for "not given". Contract errors are raised as
 * `<code> <message>` replies (redis-errors.ts maps them back to SubwireError codes).
 */

/** KEYS: meta, registry. ARGV: name, config JSON, registry version the caller checked against. */
export const CREATE = `
local ver = redis.call('HGET', KEYS[2], '.version') or '0'
if ver ~= ARGV[3] then return { 'retry' } end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('EXISTS', META) == 1 then
  error({ err = 'topic_exists topic ' .. ARGV[1] .. ' exists already' })
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], '.version', 1)
redis.call('HSET', META, 'cfg', ARGV[2], 'last', '0', 'lt', '', 'bytes', '0', 'count', '0', 'lost', '0', 'gseq', '0')
load()
return { 'ok', topicInfo(), consumers() }
`

/** KEYS: meta, registry. ARGV: name, config JSON, registry version, now. Shrunk limits evict at once. */
export const UPDATE = `
local ver = redis.call('HGET', KEYS[2], '.version') or '0'
if ver ~= ARGV[3] then return { 'retry' } end
load()
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], '.version', 1)
redis.call('HSET', META, 'cfg', ARGV[2])
st.raw, st.cfg = ARGV[2], cjson.decode(ARGV[2])
local per = st.cfg.maxMsgsPerSubject
if per then
  for _, subject in ipairs(redis.call('HKEYS', SUBJ)) do
    while redis.call('LLEN', Q(subject)) > per do removeOldestOf(subject, false) end
  end
end
enforceTotals()
expire(tonumber(ARGV[4]))
save()
return { 'ok', topicInfo(), consumers() }
`

/** KEYS: meta, registry. ARGV: name. Removes every key of the topic. */
export const DELETE = `
load()
for _, subject in ipairs(redis.call('HKEYS', SUBJ)) do redis.call('DEL', Q(subject)) end
for _, name in ipairs(groupNames()) do
  loadGroup(name)
  deleteGroupKeys()
end
redis.call('DEL', LOG, SUBJ, DD, DDT, GROUPS, META)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[2], '.version', 1)
return 1
`

/** ARGV: now, skip consumers ('1' for a sweep). Applies age limits, answers the topic's state. */
export const INFO = `
load()
expire(tonumber(ARGV[1]))
save()
if ARGV[2] == '1' then return 1 end
return { topicInfo(), consumers() }
`

/**
 * ARGV: now, maxDuplicateIds, channel, n, then per append: subject, size, encoding, headers JSON, payload, msgId,
 * expectedLastSeq. Each append is the engine's prepare + commit, in order, as n scripts run back to back would
 * be: its checks (in the engine's order, before any write but age eviction), then the entry, the msgId, the
 * subject index and the limits. Answers per append { seq, time, duplicate } or { code, message }; publishes
 * `<lastSeq> <topic>` once if any was stored.
 */
export const APPEND = `
load()
local now, maxIds, channel, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local cfg = st.cfg
local before = st.last
local function appendOne(at)
  local subject, size, msgId, expected = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 5], ARGV[at + 6]
  if not covers(subject) then return { 'bad_subject', 'topic ' .. cfg.name .. ' does not cover ' .. subject } end
  expire(now)
  if msgId ~= '' then
    local seq = redis.call('ZSCORE', DD, msgId)
    if seq then return { tonumber(seq), tonumber(redis.call('HGET', DDT, msgId)), 1 } end
  end
  if expected ~= '' and tonumber(expected) ~= st.last then
    return { 'wrong_last_seq', 'topic ' .. cfg.name .. ': last sequence is ' .. I(st.last) .. ', not ' .. expected }
  end
  local maxBytes = cfg.maxBytes
  if maxBytes and size > maxBytes then
    return { 'max_payload', 'topic ' .. cfg.name .. ': a ' .. I(size) .. '-byte message can never fit in maxBytes ' .. I(maxBytes) }
  end
  if cfg.discard == 'new' then
    local count, bytes = st.count + 1, st.bytes + size
    local per = cfg.maxMsgsPerSubject
    if per and redis.call('LLEN', Q(subject)) >= per then
      count = count - 1
      bytes = bytes - tonumber(entry(tonumber(redis.call('LINDEX', Q(subject), 0)))[2][6])
    end
    if (cfg.maxMsgs and count > cfg.maxMsgs) or (maxBytes and bytes > maxBytes) then
      return { 'topic_full', 'topic ' .. cfg.name .. " is full (discard: 'new')" }
    end
  end
  if st.last >= 9007199254740990 then return { 'topic_full', 'topic ' .. cfg.name .. ' has used every sequence number' } end
  local seq = st.last + 1
  local time = now
  if st.lt and st.lt > now then time = st.lt end
  redis.call('XADD', LOG, I(seq) .. '-0', 't', I(time), 's', subject, 'z', I(size), 'e', ARGV[at + 2], 'h', ARGV[at + 3], 'p', ARGV[at + 4])
  st.last, st.lt, st.count, st.bytes = seq, time, st.count + 1, st.bytes + size
  if msgId ~= '' and cfg.duplicateWindowMs > 0 then
    redis.call('ZADD', DD, I(seq), msgId)
    redis.call('HSET', DDT, msgId, I(time))
    if redis.call('ZCARD', DD) > maxIds then
      local oldest = redis.call('ZPOPMIN', DD)
      redis.call('HDEL', DDT, oldest[1])
    end
  end
  redis.call('RPUSH', Q(subject), I(seq))
  redis.call('HSET', SUBJ, subject, I(seq))
  enforcePerSubject(subject)
  enforceTotals()
  return { seq, time, 0 }
end
local out = {}
for i = 0, n - 1 do out[i + 1] = appendOne(5 + i * 7) end
save()
if st.last > before then redis.call('PUBLISH', channel, I(st.last) .. ' ' .. cfg.name) end
return out
`

/** ARGV: now, 's' or 't', start sequence or time, toSeq, filter, limit, scan cap. */
export const READ = `
load()
expire(tonumber(ARGV[1]))
save()
local start = tonumber(ARGV[3])
local startSeq, startTime = nil, nil
if ARGV[2] == 's' then startSeq = start else startTime = start end
local toSeq = nil
if ARGV[4] ~= '' then toSeq = tonumber(ARGV[4]) end
local msgs, nextSeq, fs, gap = readLog(startSeq, startTime, toSeq, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
return { nextSeq, fs, st.last, gap and gap[1] or 0, gap and gap[2] or 0, msgs }
`

/** ARGV: now, seq. */
export const GET = `
load()
expire(tonumber(ARGV[1]))
save()
return entry(tonumber(ARGV[2])) or false
`

/** ARGV: now, filter. The newest entry matching it. */
export const LAST = `
load()
expire(tonumber(ARGV[1]))
save()
local filter = ARGV[2]
if filter == '>' then return redis.call('XREVRANGE', LOG, '+', '-', 'COUNT', 1)[1] or false end
if not string.find(filter, '[*>]') then
  local seq = redis.call('HGET', SUBJ, filter)
  return seq and entry(tonumber(seq)) or false
end
local best = 0
local flat = redis.call('HGETALL', SUBJ)
for i = 1, #flat, 2 do
  local seq = tonumber(flat[i + 1])
  if seq > best and matches(filter, flat[i]) then best = seq end
end
return best > 0 and entry(best) or false
`

/** ARGV: now, filter. The newest entry of each matching subject, in sequence order. */
export const LAST_PER_SUBJECT = `
load()
expire(tonumber(ARGV[1]))
save()
local seqs = {}
local flat = redis.call('HGETALL', SUBJ)
for i = 1, #flat, 2 do
  if matches(ARGV[2], flat[i]) then seqs[#seqs + 1] = tonumber(flat[i + 1]) end
end
table.sort(seqs)
local out = {}
for _, seq in ipairs(seqs) do out[#out + 1] = entry(seq) end
return out
`

/** ARGV: now, subject pattern ('' for every message). Answers how many were removed; the removed are a gap. */
export const PURGE = `
load()
expire(tonumber(ARGV[1]))
local before = st.count
if ARGV[2] == '' then
  for _, subject in ipairs(redis.call('HKEYS', SUBJ)) do redis.call('DEL', Q(subject)) end
  redis.call('DEL', LOG, SUBJ)
  st.lost = math.max(st.lost, st.last)
  st.count, st.bytes = 0, 0
else
  for _, subject in ipairs(redis.call('HKEYS', SUBJ)) do
    if matches(ARGV[2], subject) then
      while redis.call('LLEN', Q(subject)) > 0 do removeOldestOf(subject, true) end
    end
  end
end
save()
return before - st.count
`
