-- give back: ARGV[1] unused units of a lease return to the bucket KEYS[1], up to its capacity
-- (the one it was last taken with). An absent bucket is full: nothing to return to.
-- Reply: {units in the bucket (floor), now}.
local h = redis.call('HMGET', KEYS[1], 'level', 'at', 'cap', 'period')
local cap = number_or(h[3], 0)
local period = number_or(h[4], 0)
if not h[1] or cap < 1 or period < 1 then
  return {-1, now}
end
local level, at = refill(number_or(h[1], cap), number_or(h[2], now), cap, period)
level = math.min(cap, level + tonumber(ARGV[1]))
save(KEYS[1], level, at, cap, period)
return {math.floor(level), now}
