-- give back: ARGV[1] unused units of a lease return to the bucket KEYS[1], up to its capacity
-- (the one it was last taken with). An absent bucket is full: nothing to return to.
-- Reply: {units in the bucket (floor), now}.
local h = redis.call('HMGET', KEYS[1], 'level', 'at', 'cap', 'period')
if not h[1] then
  return {-1, now}
end
local cap = tonumber(h[3])
local period = tonumber(h[4])
local level, at = refill(tonumber(h[1]), tonumber(h[2]), cap, period)
level = math.min(cap, level + tonumber(ARGV[1]))
save(KEYS[1], level, at, cap, period)
return {math.floor(level), now}
