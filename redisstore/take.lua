-- One decision, all or nothing: check the epoch marker, then take a token
-- from every bucket and units from the quota if each of them has it;
-- otherwise take nothing.
-- KEYS[1]: quota counter (first: a Ring routes the script by it)
-- KEYS[2]: epoch marker (see epoch.go)
-- KEYS[3..]: one key per bucket: its theoretical arrival time (GCRA), in
--            µs on the server's clock; absent is a full bucket
-- ARGV: units, limit (-1 unlimited), counter expiry (Unix s; 0: never,
--       for a Total quota), epoch, the time in µs (empty: the server's
--       clock, always outside the package's tests), charge (1: a charge,
--       never refused: it takes min(units, limit - used), at least 0, and
--       has no bucket), the number of alert levels, the levels (units),
--       then per bucket: interval (µs, may be fractional), burst
-- Reply: {status, used, epoch, crossed, charged, then per bucket: ok,
-- remaining, wait µs, reset µs}; status 1: everything was taken, 0:
-- nothing was (a limit refused), -1: the data was lost (nothing was read
-- or written but the marker). used is the quota usage after the call (0
-- for no quota); crossed has bit i-1 set for each alert level i that the
-- call took the usage from below to at least; charged is the units
-- taken from the quota.
local m = redis.call('GET', KEYS[2])
if m == false or m == 'lost' or (m ~= ARGV[4] and string.sub(m, 1, 1) ~= 'a') then
  redis.call('SET', KEYS[2], 'lost')
  return {-1, 0, 'lost'}
end
local units = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local charge = ARGV[6] == '1'
local na = tonumber(ARGV[7])
local base = 7 + na -- the buckets' arguments follow the alert levels
local nb = #KEYS - 2
local ok = true
local b = {}
if nb > 0 then
  local now
  if ARGV[5] ~= '' then
    now = tonumber(ARGV[5])
  else
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  for i = 1, nb do
    local interval = tonumber(ARGV[base + 2 * i - 1])
    local burst = tonumber(ARGV[base + 2 * i])
    local tol = interval * burst
    local tat = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
    if tat < now then tat = now elseif tat - now > tol then tat = now + tol end
    local nxt = tat + interval
    local e = {interval = interval, tol = tol, tat = tat, nxt = nxt, ok = nxt - now <= tol}
    if not e.ok then ok = false end
    b[i] = e
  end
  b.now = now
end
local used = 0
if limit >= 0 then
  used = tonumber(redis.call('GET', KEYS[1]) or '0')
  if charge then
    units = math.max(math.min(units, limit - used), 0)
  elseif used + units > limit then
    ok = false
  end
end
local reply = {0, used, m, 0, 0}
if ok then
  reply[1] = 1
  for i = 1, nb do
    local e = b[i]
    -- The key goes when the bucket is full again: absent means full.
    redis.call('SET', KEYS[2 + i], string.format('%.17g', e.nxt), 'PX', math.max(1, math.ceil((e.nxt - b.now) / 1000)))
    e.tat = e.nxt
  end
  if limit >= 0 and units > 0 then
    local before = used
    used = redis.call('INCRBY', KEYS[1], units)
    reply[2] = used
    reply[5] = units
    if expiry > 0 then
      redis.call('EXPIREAT', KEYS[1], expiry)
    end
    local crossed, bit = 0, 1
    for i = 1, na do
      local level = tonumber(ARGV[7 + i])
      if before < level and level <= used then crossed = crossed + bit end
      bit = bit * 2
    end
    reply[4] = crossed
  end
end
if limit >= 0 and expiry == 0 and used > 0 then
  -- A Total quota never resets: its counter must not expire (one written
  -- with a TTL by an earlier version loses it here, refused or not).
  redis.call('PERSIST', KEYS[1])
end
for i = 1, nb do
  local e = b[i]
  local debt = math.min(math.max(e.tat - b.now, 0), e.tol)
  local remaining = math.floor((e.tol - debt) / e.interval)
  local reset = debt
  if remaining == 0 then reset = debt - (e.tol - e.interval) end
  local wait = 0
  if not e.ok then wait = math.ceil(e.nxt - b.now - e.tol) end
  reply[#reply + 1] = e.ok and 1 or 0
  reply[#reply + 1] = remaining
  reply[#reply + 1] = wait
  reply[#reply + 1] = math.ceil(reset)
end
return reply
