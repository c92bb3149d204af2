wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"zero-1","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'
