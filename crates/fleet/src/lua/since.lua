-- advisories since: the live advisories changed after a cursor, oldest change first.
-- KEYS[1] the change index, KEYS[2] the expiry index, KEYS[3] meta.
-- ARGV[1] the cursor's epoch, ARGV[2] the cursor's seq, ARGV[3] at most this many changes read,
-- ARGV[4] the record keys' prefix (records share the hash tag, so the slot, of the indexes).
-- Reply: {now, epoch, next seq, more (1/0), reset (1/0), then per advisory: member, until
-- text, since text, payload, seq}.
local over = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_text, 'LIMIT', 0, 64)
for _, member in ipairs(over) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
local meta = redis.call('HMGET', KEYS[3], 'epoch', 'seq')
local epoch = number_or(meta[1], 0)
local top = number_or(meta[2], 0)
local from = tonumber(ARGV[2])
local reset = 0
-- Another epoch (the store lost its data and began again) or a cursor ahead of the head: read
-- from the start.
if epoch ~= tonumber(ARGV[1]) or from > top then
  if from ~= 0 then reset = 1 end
  from = 0
end
local limit = tonumber(ARGV[3])
local changed = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', from), '+inf',
  'WITHSCORES', 'LIMIT', 0, limit)
local out = {now, epoch, 0, 0, reset}
local next_seq = from
for i = 1, #changed, 2 do
  local member = changed[i]
  local seq = tonumber(changed[i + 1])
  next_seq = seq
  local rec = redis.call('HMGET', ARGV[4] .. member, 'until', 'since', 'payload')
  if rec[1] and until_of(rec[1]) > now then
    out[#out + 1] = member
    out[#out + 1] = rec[1]
    out[#out + 1] = rec[2]
    out[#out + 1] = rec[3]
    out[#out + 1] = seq
  end
end
if #changed / 2 < limit then
  next_seq = top
else
  out[4] = 1
end
out[3] = next_seq
return out
