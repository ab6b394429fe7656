-- reports.lua - errors as `axle run` prints them: each function ends in
-- an error the root does not catch (but `mistakes`), and the test reads
-- what was printed. Run by tests/integration/test_lua.c as
--   axle run tests/lua/reports.lua FUNCTION [testmod=c:...]
local axle = require "axle"

local M = {}

local function ready()
  io.stdout:write("ready\n")
  io.stdout:flush()
end

function M.slow()
  axle.sleep(math.huge)
end

-- Mistakes in the caller's input, caught: each error value keeps its
-- traceback, whatever printing shows of it.
function M.mistakes(args)
  local n <close> = axle.open_nursery()
  local c = n:start_actor("cchild", {module = args.testmod})
  local ok, err = pcall(c.run, c, "ad", {a = 1, b = 2})
  print(ok, err.type, err.message:match("did you mean '[^']*'%?"),
        #err.traceback > 0)
  ok, err = pcall(c.run, c, "add", {a = "x", b = 2})
  print(ok, err.type, #err.traceback > 0)
  local l = n:start_actor("lchild")
  ok, err = pcall(l.run, l, "slwo")
  print(ok, err.type, err.message:match("did you mean '[^']*'%?"))
  c:cancel_actor()
  l:cancel_actor()
end

-- A one-shot child killed by SIGSEGV.
function M.crash(args)
  local n <close> = axle.open_nursery()
  n:run_in_actor("read_at", {addr = 0},
                 {name = "crasher", module = args.testmod})
end

-- A child whose module is not there.
function M.bad_start()
  local n <close> = axle.open_nursery()
  n:start_actor("nomod", {module = "lua:does_not_exist"})
end

-- A module given as a path without its scheme.
function M.path_start()
  local n <close> = axle.open_nursery()
  n:start_actor("nomod", {module = "tests/lua/reports.lua"})
end

-- Waiting on a call when the signal comes.
function M.wait_call()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("worker")
  ready()
  p:run(M.slow)
end

-- Sleeping when the signal comes.
function M.sleep()
  ready()
  axle.sleep(math.huge)
end

function M.flush()
  return "flushed"
end

-- Cancelled while a daemon runs: a shielded teardown can still call it,
-- as the nursery takes its children down only once the body has left.
function M.shielded_teardown()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("db")
  ready()
  pcall(axle.sleep, math.huge)
  local s <close> = axle.cancel_scope()
  s:shield(true)
  local ok, r = pcall(p.run, p, M.flush)
  print("shielded teardown call", ok, ok and r or r.type)
end

-- Busy in Lua code when the signal comes.
function M.spin()
  ready()
  local x = 0
  while true do x = x + 1 end
end

return M
