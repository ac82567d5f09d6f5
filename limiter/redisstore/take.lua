-- Take a token from a (plan, key) bucket, then count quota.
-- KEYS[1]: bucket (hash: t = last update in µs, v = tokens)
-- KEYS[2]: quota counter
-- ARGV: qps (-1 unlimited), n, limit (-1 unlimited), counter expiry (Unix s)
-- Reply: {qps allowed 0/1, retry after µs, granted, used}
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
    return {0, math.ceil((1 - tokens) * 1000000 / qps), 0, 0}
  end
  redis.call('HSET', KEYS[1], 't', now, 'v', string.format('%.17g', tokens - 1))
  -- An idle bucket refills in a second; keep it a little longer.
  redis.call('PEXPIRE', KEYS[1], 2000)
end
local limit = tonumber(ARGV[3])
if limit < 0 then
  return {1, 0, 0, 0}
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local grant = math.min(tonumber(ARGV[2]), limit - used)
if grant <= 0 then
  return {1, 0, 0, used}
end
used = redis.call('INCRBY', KEYS[2], grant)
redis.call('EXPIREAT', KEYS[2], ARGV[4])
return {1, 0, grant, used}
