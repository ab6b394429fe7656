-- scenarios.lua - tractor's spawning and cancellation scenarios, in Lua.
-- Each function is one scenario; tests/integration/test_lua.c runs them
-- with `axle run tests/lua/scenarios.lua NAME` and checks what they print.
local axle = require "axle"

local M = {}

-- A rendezvous of actors through a file: each appends a line, then waits
-- (shielded from cancellation) until n lines are there. Siblings then fail
-- together however slowly they started, instead of being cancelled by the
-- first failure: the test waits for an event, not for a time.
local function rendezvous(path, n)
  local f = assert(io.open(path, "a"))
  f:write("x\n")
  f:close()
  local s <close> = axle.cancel_scope()
  s:shield(true)
  while true do
    local count = 0
    for _ in io.lines(path) do count = count + 1 end
    if count >= n then return end
    axle.sleep(0.01)
  end
end

-- Fail once every sibling in the rendezvous (args.barrier, args.n) has
-- started, or after args.delay seconds.
function M.fail_later(args)
  if args and args.barrier then
    rendezvous(args.barrier, args.n)
  else
    local s <close> = axle.cancel_scope()
    s:shield(true)
    axle.sleep(args and args.delay or 0.5)
  end
  error("failed on purpose")
end

function M.sleep_forever()
  axle.sleep(1e9)
end

-- 25 one-shot actors, started concurrently, that all fail together once
-- all have started: one group of 25.
function M.many_fail()
  local t0 = axle.now()
  local barrier = os.tmpname()
  local ok, err = pcall(function()
    local n <close> = axle.open_nursery()
    local tasks <close> = axle.task_nursery()
    for i = 1, 25 do
      tasks:spawn(n.run_in_actor, n, M.fail_later,
                  {barrier = barrier, n = 25}, {name = "fail_" .. i})
    end
  end)
  os.remove(barrier)
  assert(not ok)
  print(err.type, #err.members, ("%.1f"):format(axle.now() - t0))
  for _, m in ipairs(err.members) do
    assert(m.message:find("failed on purpose", 1, true))
  end
end

-- A failing tree of the given breadth and depth: leaves fail, every level
-- raises its nursery's group.
function M.subtree(args)
  local depth, breadth = args.depth, args.breadth
  if depth == 0 then M.fail_later(args) end
  local n <close> = axle.open_nursery()
  for i = 1, breadth do
    n:run_in_actor(M.subtree, {depth = depth - 1, breadth = breadth,
                               barrier = args.barrier, n = args.n},
                   {name = ("d%d_%d"):format(depth - 1, i)})
  end
end

local function shape(err)
  if err.type ~= "ErrorGroup" then return err.type end
  local parts = {}
  for _, m in ipairs(err.members) do parts[#parts + 1] = shape(m) end
  return "[" .. table.concat(parts, ",") .. "]"
end

function M.nested_fail()
  local barrier = os.tmpname()
  local ok, err = pcall(M.subtree, {depth = 3, breadth = 2,
                                    barrier = barrier, n = 8})
  os.remove(barrier)
  assert(not ok)
  print("shape", shape(err))
end

-- Daemons and one-shots, some failing: exactly those errors, the rest
-- cancelled.
function M.mixed(args)
  local nfail = args.nfail
  local barrier = os.tmpname()
  local daemons = {}
  local ok, err = pcall(function()
    local n <close> = axle.open_nursery()
    for i = 1, 2 do daemons[i] = n:start_actor("daemon_" .. i) end
    for i = 1, 2 do
      n:run_in_actor(M.sleep_forever, nil, {name = "sleeper_" .. i})
    end
    for i = 1, nfail do
      n:run_in_actor(M.fail_later, {barrier = barrier, n = nfail},
                     {name = "bad_" .. i})
    end
  end)
  os.remove(barrier)
  assert(not ok)
  local names = {}
  if err.type == "ErrorGroup" then
    for _, m in ipairs(err.members) do names[#names + 1] = m.src.name end
  else
    names[1] = err.src.name
  end
  table.sort(names)
  print("failed", table.concat(names, " "))
end

-- A tree that runs until something cancels it.
function M.forever(args)
  local depth = args and args.depth or 2
  local n <close> = axle.open_nursery()
  if depth > 0 then
    for i = 1, 2 do
      n:run_in_actor(M.forever, {depth = depth - 1}, {name = "f" .. depth .. i})
    end
  end
  axle.sleep(1e9)
end

-- Busy in pure Lua, never calling axle.
function M.spin()
  while true do end
end

function M.spinning_child()
  local n <close> = axle.open_nursery()
  n:run_in_actor(M.spin, nil, {name = "spinner"})
  axle.sleep(1e9)
end

-- The root fails while a grandchild busy-loops: the error still surfaces
-- quickly, and nothing survives.
function M.root_error_busy_grandchild()
  local t0
  local ok, err = pcall(function()
    local n <close> = axle.open_nursery()
    n:run_in_actor(M.spinning_child, nil, {name = "middle"})
    axle.sleep(0.5)
    t0 = axle.now()
    error("root gives up")
  end)
  assert(not ok and tostring(err):find("root gives up", 1, true))
  print(("surfaced in %.2f s"):format(axle.now() - t0))
end

function M.whoami()
  return {name = axle.current_actor().name, loglevel = axle.loglevel()}
end

function M.report_with_child()
  local n <close> = axle.open_nursery()
  local p = n:run_in_actor(M.whoami, nil, {name = "grandchild"})
  local mine = M.whoami()
  return {mine, p:result()}
end

-- Names and the log level propagate down the tree.
function M.propagation()
  local n <close> = axle.open_nursery()
  local p = n:run_in_actor(M.report_with_child, nil,
                           {name = "child", loglevel = 3})
  local r = p:result()
  print(r[1].name, r[1].loglevel, r[2].name, r[2].loglevel)
end

return M
