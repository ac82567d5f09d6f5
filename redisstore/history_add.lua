-- Applies one part of a history batch once. KEYS[1] is the record of
-- the batch's writer, "<seq>:<part>" of the last part applied; KEYS[2..]
-- are the keys the operations in ARGV touch. ARGV[1] is how long the
-- record is kept (ms), ARGV[2] and ARGV[3] the batch's Seq and the part's
-- number (decimal, no leading zero), then the operations, each
--
--   'h', i, n, field, increment, ... (n pairs)   HINCRBY on KEYS[i]
--   'z', i, score, member                        ZADD LT on KEYS[i]
--   's', i, member                               SADD on KEYS[i]
--
-- When the record's (seq, part) is at or past (ARGV[2], ARGV[3]) — this
-- part, or a later one, was applied — only the record's lifetime is
-- renewed (a writer retrying a batch keeps its record while it retries)
-- and 1 is returned.
-- Otherwise everything that could fail is checked before anything is
-- written (the record a string of the right form or absent, each key of
-- its type or absent, each field an integer), so that the part is applied
-- whole or not at all; then the record is set to the part (its lifetime
-- renewed) and the operations applied, and 0 returned. A count that would
-- pass the range of an int64, where HINCRBY refuses the increment, is set
-- to the range's end instead: history counts saturate.

-- below reports whether decimal a is less than decimal b (neither with a
-- leading zero): compared as numbers, of any size.
local function below(a, b)
  if #a ~= #b then
    return #a < #b
  end
  return a < b
end

local function decimal(v)
  return v == '0' or string.match(v, '^[1-9]%d*$') ~= nil
end

local seq, part = ARGV[2], ARGV[3]
if not decimal(seq) or not decimal(part) then
  return redis.error_reply('ERR history: malformed batch position ' .. tostring(seq) .. ':' .. tostring(part))
end
local rt = redis.call('TYPE', KEYS[1])['ok']
if rt ~= 'none' then
  if rt ~= 'string' then
    return redis.error_reply('WRONGTYPE history: ' .. KEYS[1] .. ' holds a ' .. rt .. ', not a string')
  end
  local rec = redis.call('GET', KEYS[1])
  local s, p = string.match(rec, '^(%d+):(%d+)$')
  if s == nil or not decimal(s) or not decimal(p) then
    return redis.error_reply('ERR history: writer record ' .. KEYS[1] .. ' is malformed')
  end
  if not (below(s, seq) or (s == seq and below(p, part))) then
    -- A writer still retrying keeps its record as long as it retries.
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return 1
  end
end

local function isint(v)
  if v == '0' then
    return true
  end
  local neg, digits = string.match(v, '^(%-?)([1-9]%d*)$')
  if digits == nil or #digits > 19 then
    return false
  end
  if #digits < 19 then
    return true
  end
  if neg == '-' then
    return digits <= '9223372036854775808'
  end
  return digits <= '9223372036854775807'
end

local want = {h = 'hash', z = 'zset', s = 'set'}
local checked = {}
local i = 4
while i <= #ARGV do
  local op, k = ARGV[i], tonumber(ARGV[i + 1])
  local key = KEYS[k]
  if want[op] == nil or key == nil then
    return redis.error_reply('ERR history: malformed operation ' .. tostring(op))
  end
  if not checked[k] then
    local t = redis.call('TYPE', key)['ok']
    if t ~= 'none' and t ~= want[op] then
      return redis.error_reply('WRONGTYPE history: ' .. key .. ' holds a ' .. t .. ', not a ' .. want[op])
    end
    checked[k] = true
  end
  if op == 'h' then
    local n = tonumber(ARGV[i + 2])
    local fields = {}
    for j = 1, n do
      fields[j] = ARGV[i + 1 + 2 * j]
    end
    local values = redis.call('HMGET', key, unpack(fields))
    for j = 1, n do
      local v = values[j]
      if v and not isint(v) then
        return redis.error_reply('ERR history: field ' .. fields[j] .. ' of ' .. key .. ' is not an integer')
      end
    end
    i = i + 3 + 2 * n
  elseif op == 'z' then
    i = i + 4
  else
    i = i + 3
  end
end

redis.call('SET', KEYS[1], seq .. ':' .. part, 'PX', ARGV[1])
i = 4
while i <= #ARGV do
  local op, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'h' then
    local n = tonumber(ARGV[i + 2])
    for j = 1, n do
      local f, inc = ARGV[i + 1 + 2 * j], ARGV[i + 2 + 2 * j]
      local r = redis.pcall('HINCRBY', key, f, inc)
      if type(r) == 'table' and r.err then
        if not string.find(r.err, 'overflow', 1, true) then
          return r -- not reached: the checks above rule out the others
        end
        local bound = '9223372036854775807'
        if string.sub(inc, 1, 1) == '-' then
          bound = '-9223372036854775808'
        end
        redis.call('HSET', key, f, bound)
      end
    end
    i = i + 3 + 2 * n
  elseif op == 'z' then
    redis.call('ZADD', key, 'LT', ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  else
    redis.call('SADD', key, ARGV[i + 2])
    i = i + 3
  end
end
return 0
