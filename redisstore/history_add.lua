-- Adds to the history hash KEYS[1] the counts in ARGV: field, increment,
-- field, increment, ... (the fields "<start>/<i>" of one row). A count
-- that would pass the range of an int64, where HINCRBY refuses the
-- increment, is set to the range's end instead: history counts
-- saturate, so a write never fails, nor is applied in part, for one of
-- them. Any other error (a field that is not an integer) is returned.
for i = 1, #ARGV, 2 do
  local r = redis.pcall('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'overflow', 1, true) then
      return r
    end
    local bound = '9223372036854775807'
    if string.sub(ARGV[i + 1], 1, 1) == '-' then
      bound = '-9223372036854775808'
    end
    redis.call('HSET', KEYS[1], ARGV[i], bound)
  end
end
return 0
