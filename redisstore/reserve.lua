-- Reserve quota: check the epoch marker, then add min(n, limit - used)
-- to the counter (nothing when that is 0 or less).
-- KEYS[1]: quota counter
-- KEYS[2]: epoch marker (see epoch.go)
-- ARGV: n, limit, counter expiry (Unix s; 0: never, for a Total quota),
--       epoch
-- Reply: {status, granted, used, epoch}; status 1, or -1: the data was
-- lost (nothing was read or written but the marker).
local m = redis.call('GET', KEYS[2])
if m == false or m == 'lost' or (m ~= ARGV[4] and string.sub(m, 1, 1) ~= 'a') then
  redis.call('SET', KEYS[2], 'lost')
  return {-1, 0, 0, 'lost'}
end
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), limit - used)
if grant > 0 then
  used = redis.call('INCRBY', KEYS[1], grant)
else
  grant = 0
end
if expiry > 0 then
  if grant > 0 then
    redis.call('EXPIREAT', KEYS[1], expiry)
  end
elseif used > 0 then
  -- A Total quota never resets: its counter must not expire (one written
  -- with a TTL by an earlier version loses it here, refused or not).
  redis.call('PERSIST', KEYS[1])
end
return {1, grant, used, m}
