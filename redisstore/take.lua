-- One decision: check the epoch marker, take a token from the (plan, key)
-- bucket, then count quota.
-- KEYS[1]: bucket (hash: t = last update in µs, v = tokens)
-- KEYS[2]: quota counter
-- KEYS[3]: epoch marker (see epoch.go)
-- ARGV: qps (-1 unlimited), n, limit (-1 unlimited),
--       counter expiry (Unix s; 0: never, for a Total quota), epoch
-- Reply: {status, retry after µs, granted, used (also on a QPS refusal), epoch}; status 1: a QPS
-- token was taken (or QPS is unlimited), 0: refused for QPS, -1: the data
-- was lost (nothing was read or written but the marker).
local m = redis.call('GET', KEYS[3])
if m == false or m == 'lost' or (m ~= ARGV[5] and string.sub(m, 1, 1) ~= 'a') then
  redis.call('SET', KEYS[3], 'lost')
  return {-1, 0, 0, 0, 'lost'}
end
local qps = tonumber(ARGV[1])
if qps > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local b = redis.call('HMGET', KEYS[1], 't', 'v')
  local tokens = qps
  if b[1] and b[2] then
    local elapsed = math.max(0, now - tonumber(b[1]))
    tokens = math.min(qps, tonumber(b[2]) + elapsed * qps / 1000000)
  end
  if tokens < 1 then
    -- The quota is untouched; report its usage for the refusal's headers.
    local used = 0
    if tonumber(ARGV[3]) >= 0 then
      used = tonumber(redis.call('GET', KEYS[2]) or '0')
    end
    return {0, math.ceil((1 - tokens) * 1000000 / qps), 0, used, m}
  end
  redis.call('HSET', KEYS[1], 't', now, 'v', string.format('%.17g', tokens - 1))
  -- An idle bucket refills in a second; keep it a little longer.
  redis.call('PEXPIRE', KEYS[1], 2000)
end
local limit = tonumber(ARGV[3])
if limit < 0 then
  return {1, 0, 0, 0, m}
end
local expiry = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local grant = math.min(tonumber(ARGV[2]), limit - used)
if grant > 0 then
  used = redis.call('INCRBY', KEYS[2], grant)
else
  grant = 0
end
if expiry > 0 then
  if grant > 0 then
    redis.call('EXPIREAT', KEYS[2], expiry)
  end
elseif used > 0 then
  -- A Total quota never resets: its counter must not expire (one written
  -- with a TTL by an earlier version loses it here, refused or not).
  redis.call('PERSIST', KEYS[2])
end
return {1, 0, grant, used, m}
