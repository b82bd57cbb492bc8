-- wrk script: POSTs a small chat-completions body, straight to the simulator or through the relay.
-- Usage: wrk -s chat.lua URL -- PATH [stream]
function init(args)
  wrk.method = "POST"
  wrk.path = args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["api-key"] = "bench"
  wrk.headers["X-Tollgate-Key"] = os.getenv("TOLLGATE_GATEWAY_KEY")
  wrk.headers["X-Tollgate-Product"] = "team-a"
  local stream = args[2] == "stream" and ',"stream":true' or ""
  wrk.body = '{"messages":[{"role":"user","content":"hello there"}],"max_tokens":16' .. stream .. '}'
  math.randomseed(os.time() + os.clock() * 1000000)
  prefix = string.format("bench-%08x-", math.random(0, 0x7fffffff))
  counter = 0
end

-- Each call carries its own X-Tollgate-Request-Id, as APIM's policy sends it.
function request()
  counter = counter + 1
  wrk.headers["X-Tollgate-Request-Id"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", summary.errors.status))
end
