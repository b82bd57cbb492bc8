-- wrk script: POSTs /v1/check or /v1/usage bodies with a unique requestId per request, or GETs
-- /health (the peer: the same server without storage).
-- Usage: wrk -s post.lua URL -- check|usage|health
local counter = 0
local prefix = ""
local kind = "check"

function init(args)
  kind = args[1] or "check"
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  prefix = string.format("bench-%d", math.random(1, 2000000000))
  if kind == "health" then
    wrk.method = "GET"
    wrk.path = "/health"
    return
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Tollgate-Key"] = os.getenv("TOLLGATE_GATEWAY_KEY")
  wrk.path = "/v1/" .. kind
end

function request()
  if kind == "health" then return wrk.format(nil, nil, nil, nil) end
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local body
  if kind == "check" then
    body = '{"requestId":"' .. id .. '","product":"bench","subscription":"sub-1","user":"ann","model":"gpt-4o","estimatedTokens":1200}'
  else
    body = '{"requestId":"' .. id .. '","product":"bench","subscription":"sub-1","user":"ann","api":"openai","model":"gpt-4o","streaming":false,"usage":{"promptTokens":1000,"completionTokens":200,"cachedTokens":100,"reasoningTokens":0}}'
  end
  return wrk.format(nil, nil, nil, body)
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
