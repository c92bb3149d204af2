-- Every script starts here: the store's clock decides, never the caller's.
-- Effects replication (the default from Redis 7 and in Valkey) lets a script read TIME and
-- then write; older servers need it asked for.
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
-- Unix milliseconds, as a number (exact: below 2^53) and as decimal text (for ZCOUNT bounds).
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local now_text = clock[1] .. string.format('%03d', math.floor(tonumber(clock[2]) / 1000))
-- A number read back from the store; `default` for anything else (a record some other writer
-- mangled must not make a script fail for every replica).
local function number_or(text, default)
  local n = tonumber(text)
  if n == nil or n ~= n then return default end
  return n
end
-- A stored `until`: decimal unix ms, or 'inf' for an advisory that never expires; unreadable
-- is over.
local function until_of(text)
  if text == 'inf' then return math.huge end
  return number_or(text, 0)
end
-- Reply form of an `until`: the number, or -1 for 'inf'.
local function until_reply(value)
  if value == math.huge then return -1 end
  return value
end
