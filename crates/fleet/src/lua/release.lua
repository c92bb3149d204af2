-- release: the process whose token is ARGV[1] gives its claim KEYS[1] (hash: token, until)
-- back. Reply: {released (1/0), now}.
local h = redis.call('HMGET', KEYS[1], 'token', 'until')
if h[1] == ARGV[1] and number_or(h[2], 0) > now then
  redis.call('DEL', KEYS[1])
  return {1, now}
end
return {0, now}
