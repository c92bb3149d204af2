-- advise: store an advisory unless a live one beats it.
-- KEYS[1] the record (hash: until, since, payload, seq), KEYS[2] the change index (zset:
-- member -> seq), KEYS[3] the expiry index (zset: member -> until), KEYS[4] meta (hash: epoch,
-- seq).
-- ARGV[1] member ("kind/subject"), ARGV[2] until ('inf' or decimal unix ms), ARGV[3] since
-- (decimal unix ms), ARGV[4] payload, ARGV[5] rule: 'latest' (the latest until wins) or
-- 'earliest' (the earliest since wins; on a tie, the latest until).
-- Reply: {accepted (1/0), stored until (-1 = forever, 0 = none stored), stored since, now}.
local new_until = until_of(ARGV[2])
local new_since = tonumber(ARGV[3])
local cur = redis.call('HMGET', KEYS[1], 'until', 'since')
local cur_until = nil
local cur_since = nil
-- Redis expires a key only once its time has passed; an advisory is over at its `until`.
if cur[1] and until_of(cur[1]) > now then
  cur_until = until_of(cur[1])
  cur_since = number_or(cur[2], 0)
end
local accepted = false
if new_until > now then
  if not cur_until then
    accepted = true
  elseif ARGV[5] == 'earliest' then
    accepted = new_since < cur_since or (new_since == cur_since and new_until > cur_until)
  else
    accepted = new_until > cur_until
  end
end
if accepted then
  if redis.call('HEXISTS', KEYS[4], 'epoch') == 0 then
    redis.call('HSET', KEYS[4], 'epoch', clock[1] .. string.format('%06d', tonumber(clock[2])))
  end
  local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
  -- DEL first: HSET keeps an old TTL, and a forever record must have none.
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'until', ARGV[2], 'since', ARGV[3], 'payload', ARGV[4], 'seq', seq)
  if new_until ~= math.huge then
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  end
  redis.call('ZADD', KEYS[2], seq, ARGV[1])
  if new_until == math.huge then
    redis.call('ZADD', KEYS[3], '+inf', ARGV[1])
  else
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  end
  cur_until = new_until
  cur_since = new_since
end
-- Drop index entries of advisories that are over (a bounded number per call).
local over = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_text, 'LIMIT', 0, 64)
for _, member in ipairs(over) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
end
if not cur_until then
  return {accepted and 1 or 0, 0, 0, now}
end
return {accepted and 1 or 0, until_reply(cur_until), cur_since, now}
