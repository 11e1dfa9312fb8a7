/**
 * The Lua library of consumer groups (after LOG_LIB): consumer-group.ts' state machine over the group keys of
 * keys.ts. Pending records are created in sequence order as the cursor advances; each is ready (in `:r`), in
 * flight (a deadline in `:t`, its member's set `:h:<member>`) or waiting (a due time in `:t`). Members sit in
 * the zset `:m` by load·2^33 + tick, so its head is member-loads.ts' lightest: fewest held, and among equals
 * the one that has waited longest at that load (a member moving to a load gets the next tick). `PREFIX` limits
 * handouts to members whose name starts with it (a node pulls for its own members).
 *
 * Dead letters and drops that happen outside a pull (a nak or a leave past maxDeliver) wait in `:dl`/`:dr` for
 * the next pull, as the engine keeps them in memory until then.
 */
export const GROUP_LIB = `
local SHIFT = 8589934592
local g, GK, GP, GPZ, GT, GR, GM, GDL, GDR = nil, nil, nil, nil, nil, nil, nil, nil, nil
local PREFIX = ''
local function H(member) return GK .. ':h:' .. member end

local function groupCounters(t) return I(t.cursor) .. ' ' .. I(t.acked) .. ' ' .. I(t.termed) .. ' ' .. I(t.dead) .. ' ' .. I(t.inflight) .. ' ' .. I(t.tick) end

-- As save(): only what changed is written.
local function saveGroup()
  if not g or groupCounters(g) == g.saved then return end
  redis.call('HSET', GK, 'cursor', I(g.cursor), 'acked', I(g.acked), 'termed', I(g.termed), 'dead', I(g.dead), 'inflight', I(g.inflight), 'tick', I(g.tick))
  g.saved = groupCounters(g)
end
SAVERS[#SAVERS + 1] = saveGroup

local function groupKeys(name)
  GK = B .. ':g:' .. #name .. ':' .. name
  GP, GPZ, GT, GR, GM, GDL, GDR = GK .. ':p', GK .. ':pz', GK .. ':t', GK .. ':r', GK .. ':m', GK .. ':dl', GK .. ':dr'
end

-- Loads group 'name' (saving the one loaded before): false when there is none.
local function loadGroup(name)
  saveGroup()
  g = nil
  groupKeys(name)
  local v = redis.call('HMGET', GK, 'cfg', 'cursor', 'acked', 'termed', 'dead', 'inflight', 'tick')
  if not v[1] then return false end
  local cfg = cjson.decode(v[1])
  if cfg.maxDeliver == cjson.null then cfg.maxDeliver = nil end
  g = { name = name, cfgJson = v[1], cfg = cfg, cursor = tonumber(v[2]), acked = tonumber(v[3]), termed = tonumber(v[4]), dead = tonumber(v[5]), inflight = tonumber(v[6]), tick = tonumber(v[7]) }
  g.saved = groupCounters(g)
  return true
end

local function mustGroup(name)
  if not loadGroup(name) then fail('no_group', 'no group ' .. name) end
end

local function groupInfo()
  local pz = redis.call('ZRANGE', GPZ, 0, 0)
  local floor = #pz == 0 and g.cursor - 1 or tonumber(pz[1]) - 1
  return { g.name, g.cfgJson, redis.call('ZCARD', GM), floor, g.cursor, g.inflight, redis.call('ZCARD', GPZ) - g.inflight, g.acked, g.termed, g.dead }
end

local function getRec(seq)
  local v = redis.call('HGET', GP, I(seq))
  if not v then return nil end
  local s, d, at, last = string.match(v, '^(%a),(%d+),(%-?%d+),(.*)$')
  return { seq = seq, st = s, d = tonumber(d), at = tonumber(at), last = last ~= '' and last or nil }
end
local function putRec(r) redis.call('HSET', GP, I(r.seq), r.st .. ',' .. I(r.d) .. ',' .. I(r.at) .. ',' .. (r.last or '')) end

local function loadOf(score) return math.floor(tonumber(score) / SHIFT) end

-- Puts a member at the tail of its load's queue; ticks are renumbered (order kept) before they could lose precision.
local function place(member, load)
  if g.tick + 1 >= SHIFT then
    local all = redis.call('ZRANGE', GM, 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do redis.call('ZADD', GM, I(loadOf(all[i + 1]) * SHIFT + (i + 1) / 2), all[i]) end
    g.tick = #all / 2
  end
  g.tick = g.tick + 1
  redis.call('ZADD', GM, I(load * SHIFT + g.tick), member)
end

-- The lightest member (among PREFIX's) when it is below maxInFlight, with its load; else nil.
local function pick()
  local maxInFlight = g.cfg.maxInFlight
  local i = 0
  while true do
    local r = redis.call('ZRANGE', GM, i, i + 127, 'WITHSCORES')
    if #r == 0 then return nil end
    for j = 1, #r, 2 do
      if PREFIX == '' or string.sub(r[j], 1, #PREFIX) == PREFIX then
        local load = loadOf(r[j + 1])
        if load < maxInFlight then return r[j], load end
        return nil
      end
    end
    i = i + 128
  end
end

local function release(r)
  if r.st ~= 'f' or not r.last then return end
  if redis.call('SREM', H(r.last), I(r.seq)) == 1 then
    g.inflight = g.inflight - 1
    local score = redis.call('ZSCORE', GM, r.last)
    if score then place(r.last, loadOf(score) - 1) end
  end
end

local function settle(r)
  release(r)
  local s = I(r.seq)
  redis.call('HDEL', GP, s)
  redis.call('ZREM', GPZ, s)
  redis.call('ZREM', GT, s)
  redis.call('ZREM', GR, s)
end

local function schedule(r, at)
  r.at = at
  putRec(r)
  redis.call('ZADD', GT, I(at), I(r.seq))
end

local function makeReady(r)
  r.st = 'r'
  putRec(r)
  redis.call('ZREM', GT, I(r.seq))
  redis.call('ZADD', GR, I(r.seq), I(r.seq))
end

local function deadLetter(r)
  local e = entry(r.seq)
  settle(r)
  if not e then
    redis.call('RPUSH', GDR, I(r.seq))
    return
  end
  g.dead = g.dead + 1
  -- '*' only names the entry; its time is never read.
  redis.call('XADD', GDL, '*', 'q', I(r.seq), 'n', I(r.d), unpack(e[2]))
end

local function backoff(n)
  local list = g.cfg.backoffMs
  if #list == 0 or n < 1 then return 0 end
  return list[math.min(n, #list)]
end

-- An attempt failed: dead-letter it after maxDeliver attempts, else redeliver after 'delay' or the backoff.
local function failRec(r, now, delay)
  release(r)
  local maxDeliver = g.cfg.maxDeliver
  if maxDeliver and r.d >= maxDeliver then
    deadLetter(r)
    return
  end
  local d = delay
  if d == nil then d = backoff(r.d) end
  if d > 0 then
    r.st = 'w'
    schedule(r, now + d)
  else
    makeReady(r)
  end
end

local function heldBy(seq, member)
  local r = getRec(seq)
  if r and r.st == 'f' and r.last == member then return r end
  return nil
end

local function leaveOne(member, now)
  if not redis.call('ZSCORE', GM, member) then return 0 end
  redis.call('ZREM', GM, member)
  local held = redis.call('SMEMBERS', H(member))
  local seqs = {}
  for _, s in ipairs(held) do seqs[#seqs + 1] = tonumber(s) end
  table.sort(seqs)
  for _, seq in ipairs(seqs) do
    local r = getRec(seq)
    if r then failRec(r, now, 0) end
  end
  redis.call('DEL', H(member))
  return 1
end

local function deleteGroupKeys()
  local members = redis.call('ZRANGE', GM, 0, -1)
  for _, m in ipairs(members) do redis.call('DEL', H(m)) end
  redis.call('DEL', GK, GP, GPZ, GT, GR, GM, GDL, GDR)
  redis.call('HDEL', GROUPS, g.name)
  g = nil
end

local function groupNames()
  local flat = redis.call('HGETALL', GROUPS)
  local list = {}
  for i = 1, #flat, 2 do list[#list + 1] = { flat[i], tonumber(flat[i + 1]) } end
  table.sort(list, function(a, b) return a[2] < b[2] end)
  local names = {}
  for _, p in ipairs(list) do names[#names + 1] = p[1] end
  return names
end

local function consumers()
  local out = {}
  for _, name in ipairs(groupNames()) do
    loadGroup(name)
    out[#out + 1] = groupInfo()
  end
  return out
end
`
