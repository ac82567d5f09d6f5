-- Give back n units of a quota counter, not below 0.
-- KEYS[1]: quota counter
-- ARGV: n, counter expiry (Unix s; 0: never, for a Total quota)
-- Reply: the usage after
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used == 0 then return 0 end
local left = math.max(used - tonumber(ARGV[1]), 0)
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], left, 'EXAT', ARGV[2])
else
  redis.call('SET', KEYS[1], left)
end
return left
