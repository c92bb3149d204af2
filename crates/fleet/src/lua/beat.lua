-- beat: replica ARGV[1] is alive until ARGV[2] (the latest until wins). KEYS[1] is a zset:
-- replica -> until; the key expires with its last heartbeat.
-- Reply: {replicas alive, now}.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_text)
local want_until = tonumber(ARGV[2])
if want_until > now then
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not cur or want_until > tonumber(cur) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  end
end
local alive = redis.call('ZCARD', KEYS[1])
if alive > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', tonumber(last[2])))
end
return {alive, now}
