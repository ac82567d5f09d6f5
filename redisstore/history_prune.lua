-- Deletes the rows of the history hash KEYS[1] that start before
-- ARGV[1] (Unix seconds): every field "<start>/<i>" with start below it.
-- Returns {} when the hash is left empty, else {oldest start left}. A
-- field of another form is damage: the script deletes nothing and fails,
-- naming it, as a query of the hash does.
local before = tonumber(ARGV[1])
local fields = redis.call('HKEYS', KEYS[1])
local doomed = {}
local oldest = nil
for _, f in ipairs(fields) do
  local start = tonumber(string.match(f, '^(-?%d+)/[0-4]$'))
  if start == nil then
    return redis.error_reply('malformed history field ' .. string.format('%q', string.sub(f, 1, 64)) .. ' in ' .. KEYS[1])
  end
  if start < before then
    doomed[#doomed + 1] = f
  elseif oldest == nil or start < oldest then
    oldest = start
  end
end
for i = 1, #doomed, 1000 do
  redis.call('HDEL', KEYS[1], unpack(doomed, i, math.min(i + 999, #doomed)))
end
if oldest == nil then
  return {}
end
return {oldest}
