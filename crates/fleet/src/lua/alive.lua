-- alive: replicas whose heartbeat is not over. Reads only. Reply: {replicas alive, now}.
return {redis.call('ZCOUNT', KEYS[1], '(' .. now_text, '+inf'), now}
