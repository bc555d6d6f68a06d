-- refresh_token grants from a pool: each request spends the oldest token of its thread's pool
-- and the answer's new refresh token joins the end, so with rotation on every request rotates
-- a token that nothing else holds. TOKENS: a file of tokens, one per line (split over threads);
-- AUTH: the client's Basic header; EXTRA: more form parameters.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
  thread:set("nthreads", tonumber(os.getenv("WRK_THREADS")))
end

function init(args)
  queue, first, last = {}, 1, 0
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if line ~= "" and i % nthreads == tid then
      last = last + 1
      queue[last] = line
    end
    i = i + 1
  end
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("AUTH"),
  }
  extra = os.getenv("EXTRA") or ""
  spare = queue[1]
end

function request()
  local t = spare
  if first <= last then
    t = queue[first]
    queue[first] = nil
    first = first + 1
  end
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. t .. extra)
end

function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then
    last = last + 1
    queue[last] = t
  end
end
