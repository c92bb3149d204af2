-- take: a lease of at most ARGV[3] units from the bucket KEYS[1] (capacity ARGV[1] per ARGV[2] ms).
-- Reply: {granted, units left (floor), now}.
local cap = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local level = cap
local at = now
local h = redis.call('HMGET', KEYS[1], 'level', 'at')
if h[1] then
  level, at = refill(number_or(h[1], cap), number_or(h[2], now), cap, period)
end
local granted = math.min(want, math.floor(level))
level = level - granted
save(KEYS[1], level, at, cap, period)
return {granted, math.floor(level), now}
