/**
 * The Lua library every topic script starts with: one topic's log as topic-log.ts keeps it (limits, the
 * per-subject index, the msgId window, reads with gaps), over the keys of keys.ts. A script loads the topic's
 * counters once (`load`), changes them in Lua, and writes them back once (`save`), also before it raises a
 * contract error, so what it did first (age eviction) is kept as the engine keeps it.
 *
 * Redis runs a script atomically, so several brokers on one Redis never interleave inside an operation. Time is
 * always the caller's `now` (an argument), never Redis TIME, so every node and the tests' manual clock agree.
 * Integers pass as decimal strings (`I`): a Lua number prints as 1e+15 past 14 digits.
 */
export const LOG_LIB = `
local function I(n) return string.format('%d', n) end
local B = string.sub(KEYS[1], 1, -6)
local META, LOG, SUBJ, DD, DDT, GROUPS = KEYS[1], B .. ':log', B .. ':subj', B .. ':dd', B .. ':ddt', B .. ':groups'
local function Q(subject) return B .. ':q:' .. subject end
local st = nil
local SAVERS = {}
local function saveAll() for _, f in ipairs(SAVERS) do f() end end
local function fail(code, msg)
  saveAll()
  error({ err = code .. ' ' .. msg })
end

local function counters(t) return I(t.last) .. ' ' .. (t.lt and I(t.lt) or '') .. ' ' .. I(t.bytes) .. ' ' .. I(t.count) .. ' ' .. I(t.lost) end

-- Writes the counters back only if they changed: a read writes nothing, and at maxmemory a script that only
-- failed a check writes nothing either (Redis refuses only a script's first write when out of memory, so a
-- script either changes nothing or completes).
local function save()
  if counters(st) == st.saved then return end
  redis.call('HSET', META, 'last', I(st.last), 'lt', st.lt and I(st.lt) or '', 'bytes', I(st.bytes), 'count', I(st.count), 'lost', I(st.lost))
  st.saved = counters(st)
end

local function load()
  local v = redis.call('HMGET', META, 'cfg', 'last', 'lt', 'bytes', 'count', 'lost')
  if not v[1] then error({ err = 'no_topic no topic ' .. B }) end
  st = { raw = v[1], cfg = cjson.decode(v[1]), last = tonumber(v[2]), lt = tonumber(v[3]), bytes = tonumber(v[4]), count = tonumber(v[5]), lost = tonumber(v[6]) }
  st.saved = counters(st)
  SAVERS[#SAVERS + 1] = save
end

local function split(s)
  local t = {}
  for tok in string.gmatch(s, '[^.]+') do t[#t + 1] = tok end
  return t
end

local SPLIT = {}
-- shared/subject.ts subjectMatches: '*' one token, '>' one or more at the end.
local function matches(pattern, subject)
  if pattern == '>' then return true end
  local p = SPLIT[pattern]
  if not p then p = split(pattern); SPLIT[pattern] = p end
  local s = split(subject)
  for i = 1, #p do
    local tok = p[i]
    if tok == '>' then return #s >= i end
    if i > #s then return false end
    if tok ~= '*' and tok ~= s[i] then return false end
  end
  return #p == #s
end

local function covers(subject)
  for _, pattern in ipairs(st.cfg.subjects) do if matches(pattern, subject) then return true end end
  return false
end

local function eseq(e) return tonumber(string.sub(e[1], 1, -3)) end
local function entry(seq)
  local id = I(seq) .. '-0'
  return redis.call('XRANGE', LOG, id, id)[1]
end
local function first() return redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)[1] end
local function firstSeq()
  local e = first()
  if e then return eseq(e) end
  return st.last + 1
end

-- Removes the oldest message of a subject (the head of its list); 'lost' ones are a gap for readers.
local function removeOldestOf(subject, lost)
  local q = Q(subject)
  local seq = tonumber(redis.call('LPOP', q))
  if redis.call('LLEN', q) == 0 then redis.call('HDEL', SUBJ, subject) end
  local e = entry(seq)
  st.bytes = st.bytes - tonumber(e[2][6])
  st.count = st.count - 1
  redis.call('XDEL', LOG, I(seq) .. '-0')
  if lost and seq > st.lost then st.lost = seq end
end

local function removeFront(lost)
  removeOldestOf(first()[2][4], lost)
end

local function expire(now)
  local maxAge = st.cfg.maxAgeMs
  if maxAge then
    local cutoff = now - maxAge
    while true do
      local e = first()
      if not e or tonumber(e[2][2]) >= cutoff then break end
      removeOldestOf(e[2][4], true)
    end
  end
  local window = st.cfg.duplicateWindowMs
  while true do
    local r = redis.call('ZRANGE', DD, 0, 0)
    if #r == 0 then break end
    local t = tonumber(redis.call('HGET', DDT, r[1]))
    if window > 0 and now - t < window then break end
    redis.call('ZREM', DD, r[1])
    redis.call('HDEL', DDT, r[1])
  end
end

local function enforcePerSubject(subject)
  local per = st.cfg.maxMsgsPerSubject
  if not per then return end
  while redis.call('LLEN', Q(subject)) > per do removeOldestOf(subject, false) end
end

local function enforceTotals()
  local maxMsgs, maxBytes = st.cfg.maxMsgs, st.cfg.maxBytes
  while (maxMsgs and st.count > maxMsgs) or (maxBytes and st.bytes > maxBytes) do removeFront(true) end
end

-- Sequence of the first message stored at or after 'time' (times never decrease along the stream), or fallback.
local function seqAtTime(time, fallback)
  local lo, hi, ans = firstSeq(), st.last + 1, fallback
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local e = redis.call('XRANGE', LOG, I(mid) .. '-0', '+', 'COUNT', 1)[1]
    if not e then hi = mid
    elseif tonumber(e[2][2]) < time then lo = eseq(e) + 1
    else ans = eseq(e); hi = mid end
  end
  return ans
end

-- topic-log.ts read(): entries from a sequence (or time) matching filter, up to limit; stops after 'cap'
-- entries scanned so one script never blocks Redis for long (the page then ends early, nextSeq says where).
local function readLog(startSeq, startTime, toSeqArg, filter, limit, cap)
  local toSeq = st.last
  if toSeqArg and toSeqArg < toSeq then toSeq = toSeqArg end
  local fs = firstSeq()
  local gap, start = nil, nil
  if startSeq then
    local lostTo = math.min(fs - 1, st.lost)
    local from = math.max(startSeq, 1)
    if from <= lostTo then gap = { from, lostTo } end
    start = math.max(startSeq, fs, gap and gap[2] + 1 or 0)
  else
    start = seqAtTime(startTime, st.last + 1)
  end
  local out, nextSeq, pos, scanned = {}, nil, start, 0
  local all = filter == '>'
  local verdicts = {}
  while pos <= toSeq do
    local batch = math.min(math.max(limit - #out, 16), 256)
    local r = redis.call('XRANGE', LOG, I(pos) .. '-0', I(toSeq) .. '-0', 'COUNT', batch)
    if #r == 0 then break end
    for _, e in ipairs(r) do
      local seq = eseq(e)
      pos = seq + 1
      local ok = all
      if not ok then
        local subject = e[2][4]
        ok = verdicts[subject]
        if ok == nil then ok = matches(filter, subject); verdicts[subject] = ok end
      end
      if ok then
        out[#out + 1] = e
        if #out >= limit then nextSeq = pos; break end
      end
    end
    if nextSeq then break end
    scanned = scanned + #r
    if scanned >= cap and pos <= toSeq then nextSeq = pos; break end
    if #r < batch then break end
  end
  if not nextSeq then nextSeq = math.max(start, toSeq + 1) end
  return out, nextSeq, fs, gap
end

local function topicInfo()
  local f = first()
  return { st.last, st.lt or false, st.bytes, st.count, f and eseq(f) or st.last + 1, f and tonumber(f[2][2]) or false, st.raw }
end
`
