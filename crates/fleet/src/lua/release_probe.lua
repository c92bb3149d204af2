-- release probe: the holder ARGV[1] gives the token KEYS[1] back. Reply: {released (1/0), now}.
local h = redis.call('HMGET', KEYS[1], 'holder', 'until')
if h[1] == ARGV[1] and number_or(h[2], 0) > now then
  redis.call('DEL', KEYS[1])
  return {1, now}
end
return {0, now}
