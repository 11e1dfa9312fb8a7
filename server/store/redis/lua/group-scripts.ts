/**
 * The consumer-group scripts, one per operation (after LOG_LIB and GROUP_LIB). ARGV strings; '' is "not given".
 * As in engine-store.ts, leave, pull, nak and working first apply the log's age limits at `now`, so nothing
 * expired is delivered or dead-lettered.
 */

/**
 * ARGV: now, group, resolved config JSON, the config JSON the caller resolved against ('' for a new group),
 * startSeq. Answers { 'retry', current JSON } when another node changed the group in between.
 */
export const OPEN_GROUP = `
load()
local name = ARGV[2]
groupKeys(name)
local current = redis.call('HGET', GK, 'cfg')
if (current or '') ~= ARGV[4] then return { 'retry', current or '' } end
if current then
  redis.call('HSET', GK, 'cfg', ARGV[3])
  loadGroup(name)
  return { 'ok', groupInfo() }
end
expire(tonumber(ARGV[1]))
save()
local cursor = ARGV[5] ~= '' and tonumber(ARGV[5]) or firstSeq()
redis.call('HSET', GK, 'cfg', ARGV[3], 'cursor', I(cursor), 'acked', '0', 'termed', '0', 'dead', '0', 'inflight', '0', 'tick', '0')
redis.call('HSET', GROUPS, name, I(redis.call('HINCRBY', META, 'gseq', 1)))
loadGroup(name)
return { 'ok', groupInfo() }
`

/** ARGV: group. */
export const DELETE_GROUP = `
load()
mustGroup(ARGV[1])
deleteGroupKeys()
return 1
`

/** ARGV: group. */
export const GROUP_INFO = `
load()
mustGroup(ARGV[1])
return groupInfo()
`

/** ARGV: group, member. Idempotent. */
export const JOIN = `
load()
mustGroup(ARGV[1])
if not redis.call('ZSCORE', GM, ARGV[2]) then place(ARGV[2], 0) end
saveGroup()
return 1
`

/** ARGV: now, group, member. What it held is ready at once (or dead-lettered past maxDeliver). */
export const LEAVE = `
load()
local now = tonumber(ARGV[1])
expire(now)
mustGroup(ARGV[2])
leaveOne(ARGV[3], now)
saveAll()
return 1
`

/**
 * ARGV: now, group, member prefix. Fires what is due (lowest time, then sequence, first), hands out ready
 * redeliveries lowest sequence first, then new messages from the cursor, each to the lightest member below
 * maxInFlight. Answers { gapFrom, gapTo, deliveries (member, deadline, count, entry)..., dead letters, dropped,
 * next deadline or -1 }.
 */
export const PULL = `
load()
local now = tonumber(ARGV[1])
expire(now)
mustGroup(ARGV[2])
PREFIX = ARGV[3]
local due = redis.call('ZRANGEBYSCORE', GT, '-inf', I(now), 'WITHSCORES')
local fired = {}
for i = 1, #due, 2 do fired[#fired + 1] = { tonumber(due[i]), tonumber(due[i + 1]) } end
table.sort(fired, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
for _, f in ipairs(fired) do
  local r = getRec(f[1])
  if r then
    if r.st == 'f' then failRec(r, now, nil)
    elseif r.st == 'w' then makeReady(r) end
  end
end
local out = {}
local function assign(r, member, load, e)
  r.st, r.last, r.d = 'f', member, r.d + 1
  redis.call('SADD', H(member), I(r.seq))
  g.inflight = g.inflight + 1
  place(member, load + 1)
  local deadline = now + g.cfg.ackWaitMs
  schedule(r, deadline)
  out[#out + 1] = member
  out[#out + 1] = deadline
  out[#out + 1] = r.d
  out[#out + 1] = e
end
while true do
  local head = redis.call('ZRANGE', GR, 0, 0)
  if #head == 0 then break end
  local seq = tonumber(head[1])
  local r = getRec(seq)
  local e = entry(seq)
  if not e then
    settle(r)
    redis.call('RPUSH', GDR, I(seq))
  else
    local member, load = pick()
    if not member then break end
    redis.call('ZREM', GR, I(seq))
    assign(r, member, load, e)
  end
end
local gap = nil
local maxInFlight = g.cfg.maxInFlight
while true do
  local firstMember, firstLoad = pick()
  if not firstMember then break end
  local spare = math.max(maxInFlight - firstLoad, redis.call('ZCARD', GM) * maxInFlight - g.inflight)
  local limit = math.min(spare, 1000)
  local msgs, nextSeq, fs, rgap = readLog(g.cursor, nil, nil, g.cfg.filter, limit, math.huge)
  if rgap then gap = rgap end
  local stopped = false
  for _, e in ipairs(msgs) do
    local member, load = pick()
    if not member then g.cursor = eseq(e); stopped = true; break end
    local seq = eseq(e)
    redis.call('ZADD', GPZ, I(seq), I(seq))
    assign({ seq = seq, st = 'r', d = 0, at = 0 }, member, load, e)
  end
  if stopped then break end
  g.cursor = nextSeq
  if #msgs < limit then break end
end
local dead = redis.call('XRANGE', GDL, '-', '+')
local dropped = redis.call('LRANGE', GDR, 0, -1)
redis.call('DEL', GDL, GDR)
saveAll()
local nextT = redis.call('ZRANGE', GT, 0, 0, 'WITHSCORES')
return { gap and gap[1] or 0, gap and gap[2] or 0, out, dead, dropped, #nextT == 0 and -1 or tonumber(nextT[2]) }
`

/**
 * ARGV: group, n, then per settle: seq, member ('' for the broker itself), 'a' (ack) or 't' (term). In order,
 * as n calls would; answers 1 (settled now) or 0 per settle.
 */
export const SETTLE = `
load()
mustGroup(ARGV[1])
local out = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local at = 3 + i * 3
  local r = getRec(tonumber(ARGV[at]))
  local member = ARGV[at + 1]
  if not r or (member ~= '' and r.last ~= member) then
    out[i + 1] = 0
  else
    settle(r)
    if ARGV[at + 2] == 'a' then g.acked = g.acked + 1 else g.termed = g.termed + 1 end
    out[i + 1] = 1
  end
end
saveGroup()
return out
`

/** ARGV: now, group, seq, member, delayMs. The holder gives it back. */
export const NAK = `
load()
local now = tonumber(ARGV[1])
expire(now)
save()
mustGroup(ARGV[2])
local r = heldBy(tonumber(ARGV[3]), ARGV[4])
if not r then return 0 end
local delay = nil
if ARGV[5] ~= '' then delay = tonumber(ARGV[5]) end
failRec(r, now, delay)
saveGroup()
return 1
`

/** ARGV: now, group, seq, member. The deadline moves to now + ackWaitMs. */
export const WORKING = `
load()
local now = tonumber(ARGV[1])
expire(now)
save()
mustGroup(ARGV[2])
local r = heldBy(tonumber(ARGV[3]), ARGV[4])
if not r then return 0 end
schedule(r, now + g.cfg.ackWaitMs)
return 1
`

/** ARGV: group. The next deadline or due time, or nil. */
export const NEXT_DEADLINE = `
load()
mustGroup(ARGV[1])
local t = redis.call('ZRANGE', GT, 0, 0, 'WITHSCORES')
if #t == 0 then return false end
return tonumber(t[2])
`

/** ARGV: now, member prefix. Every member of every group of the topic whose name starts with it leaves. */
export const LEAVE_MEMBERS = `
load()
local now = tonumber(ARGV[1])
expire(now)
local prefix, left = ARGV[2], 0
for _, name in ipairs(groupNames()) do
  loadGroup(name)
  local leaving = {}
  for _, m in ipairs(redis.call('ZRANGE', GM, 0, -1)) do
    if string.sub(m, 1, #prefix) == prefix then leaving[#leaving + 1] = m end
  end
  for _, m in ipairs(leaving) do left = left + leaveOne(m, now) end
end
saveAll()
return left
`
