-- wrk script: every request creates a new user (unique e-mail per thread and request).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  token = os.getenv("BENCH_TOKEN")
  run = os.getenv("BENCH_RUN") or "0"
  extra = os.getenv("BENCH_EXTRA") or ""
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"connection":"Username-Password-Authentication","email":"b%s-%d-%d@example.com","password":"Str0ng!Passw0rd"%s}',
    run, thread_id, counter, extra)
  return wrk.format("POST", "/api/v2/users", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
