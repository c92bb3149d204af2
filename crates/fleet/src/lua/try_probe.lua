-- try probe: the probe token KEYS[1] (hash: holder, until) for ARGV[1] until ARGV[2].
-- Granted when nobody holds it (or the holder's time is over), or to its holder again (the
-- latest until wins). Reply: {granted (1/0), holder (-1 = none), until, now}.
local want_until = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'holder', 'until')
local held = h[1] and number_or(h[2], 0) > now
if want_until <= now then
  if held then return {0, number_or(h[1], -1), number_or(h[2], 0), now} end
  return {0, -1, 0, now}
end
if not held then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return {1, tonumber(ARGV[1]), want_until, now}
end
if h[1] == ARGV[1] then
  local held_until = number_or(h[2], 0)
  if want_until > held_until then
    redis.call('HSET', KEYS[1], 'until', ARGV[2])
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
    held_until = want_until
  end
  return {1, tonumber(ARGV[1]), held_until, now}
end
return {0, number_or(h[1], -1), number_or(h[2], 0), now}
