-- claim: the replica number KEYS[1] (hash: token, until) for the process whose token is
-- ARGV[1], for ARGV[2] ms from now. Granted when no live claim holds it, or to its holder
-- again (renewed). Reply: {granted (1/0), the until of the claim in force, now}.
local ttl = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'token', 'until')
local held_until = number_or(h[2], 0)
if h[1] and h[1] ~= ARGV[1] and held_until > now then
  return {0, held_until, now}
end
local until_text = string.format('%d', now + ttl)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'until', until_text)
redis.call('PEXPIREAT', KEYS[1], until_text)
return {1, now + ttl, now}
