-- One-shot values (authorization codes): each request spends the next value of its thread's
-- share of TOKENS (a file, one per line) in a form POST of FORM .. value, with Basic AUTH.
-- A thread that runs out repeats its last value, which answers an error and voids the row:
-- seed more values than a round can spend.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
  thread:set("nthreads", tonumber(os.getenv("WRK_THREADS")))
end

function init(args)
  values, next_value, count = {}, 1, 0
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if line ~= "" and i % nthreads == tid then
      count = count + 1
      values[count] = line
    end
    i = i + 1
  end
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("AUTH"),
  }
  form = os.getenv("FORM") or ""
end

function request()
  local v = values[math.min(next_value, count)]
  next_value = next_value + 1
  return wrk.format("POST", nil, headers, form .. v)
end
