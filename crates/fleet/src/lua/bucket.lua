-- A shared bucket: capacity units per period, refilled continuously, starting full. A full
-- bucket is the same as an absent one, so the key expires when the bucket would be full again.
-- Hash fields: level (units, fractional), at (unix ms of the level), cap, period (ms).
local function refill(level, at, cap, period)
  if level > cap then level = cap end
  if now > at then
    local elapsed = now - at
    if elapsed >= period then
      level = cap
    else
      level = math.min(cap, level + elapsed * cap / period)
    end
    at = now
  end
  return level, at
end
local function save(key, level, at, cap, period)
  if level >= cap then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'level', string.format('%.17g', level), 'at', string.format('%d', at),
    'cap', string.format('%d', cap), 'period', string.format('%d', period))
  local full_at = at + math.ceil((cap - level) * period / cap)
  redis.call('PEXPIREAT', key, string.format('%d', full_at))
end
