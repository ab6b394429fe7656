-- scopes.lua - cancel scopes, deadlines and task nurseries inside one Lua
-- actor, and cancellation of a child busy in pure Lua code.
-- Run by tests/integration/test_lua.c: axle run tests/lua/scopes.lua
local axle = require "axle"

local M = {}

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

function M.scopes()
  -- move_on_after: the deadline cancels the sleep, we move on.
  local t0 = os.clock()
  local done = axle.move_on_after(0.05, axle.sleep, 10)
  check(done == false, "move_on_after should time out")
  local ok, v = axle.move_on_after(5, function() return 42 end)
  check(ok == true and v == 42, "move_on_after passes results")
  -- fail_after raises TooSlowError.
  local okf, err = pcall(axle.fail_after, 0.05, axle.sleep, 10)
  check(not okf and err.type == "TooSlowError", "fail_after raises")
  -- An explicit scope, level-triggered: every later wait fails too.
  do
    local s <close> = axle.cancel_scope()
    s:cancel()
    local a = pcall(axle.sleep, 0.01)
    local b = pcall(axle.sleep, 0.01)
    check(not a and not b, "cancelled scope stays cancelled")
  end
  axle.sleep(0.01) -- outside again: fine
  -- Huge timeouts mean never: a huge sleep is still asleep when a short
  -- deadline ends it, and a huge deadline does not fire.
  for _, huge in ipairs({1e17, 1e300, math.huge}) do
    local ok, err = pcall(axle.fail_after, 0.05, axle.sleep, huge)
    check(not ok and err.type == "TooSlowError",
          "a huge sleep ended only by the deadline")
    check(axle.move_on_after(huge, axle.sleep, 0.01),
          "a huge deadline does not fire")
    do
      local s <close> = axle.cancel_scope(huge)
      axle.sleep(0.01)
    end
  end
  -- NaN and negative timeouts are refused at the call.
  for _, bad in ipairs({0 / 0, -1, -math.huge}) do
    check(not pcall(axle.sleep, bad), "sleep refuses " .. tostring(bad))
    check(not pcall(axle.move_on_after, bad, print),
          "move_on_after refuses " .. tostring(bad))
    check(not pcall(axle.cancel_scope, bad),
          "cancel_scope refuses " .. tostring(bad))
  end
  print("scopes ok")
end

-- The line after the one that calls it: where a deadline on it is set.
local function next_line()
  return debug.getinfo(2, "l").currentline + 1
end

local function has(s, part)
  return type(s) == "string" and s:find(part, 1, true) ~= nil
end

function M.scope_forms()
  -- fail_after returns fn's results as they are; move_on_after puts true
  -- before them.
  local a, b = axle.fail_after(5, function() return 1, 2 end)
  check(a == 1 and b == 2, "fail_after returns fn's results")
  check(select("#", axle.fail_after(5, function() end)) == 0,
        "fail_after returns no more than fn")
  -- The function form of cancel_scope: fn gets the scope, then the
  -- arguments; true and fn's results, or false when the scope's own
  -- deadline or cancel() ended fn.
  local got
  local ok, x, y = axle.cancel_scope(nil, function(s, p, q)
    got = s
    return p + q, "y"
  end, 1, 2)
  check(ok == true and x == 3 and y == "y", "cancel_scope(nil, fn) results")
  check(got.cancelled_caught == false, "a scope nobody cancelled")
  local after = false
  check(axle.cancel_scope(0.05, function()
    axle.sleep(math.huge)
    after = true
  end) == false and not after, "cancel_scope(t, fn) absorbs its deadline")
  check(axle.cancel_scope(nil, function(s)
    s:cancel()
    axle.sleep(math.huge)
    after = true
  end) == false and not after, "cancel_scope(nil, fn) absorbs its cancel()")
  check(axle.cancel_scope(5, function(s)
    local spin = 0
    s:cancel()
    while true do spin = spin + 1 end
  end) == false, "busy code in cancel_scope(t, fn) is cancelled")
  check(pcall(got.cancel, got) and got.cancelled_caught == false,
        "a closed scope's cancel() does nothing")
  -- fn may drop its scope: a collection meanwhile does not end it early.
  check(axle.cancel_scope(0.05, function()
    collectgarbage()
    axle.sleep(math.huge)
  end) == false, "a scope fn dropped still expires")
  -- It absorbs only its own cancellation: an outer deadline goes on.
  check(axle.move_on_after(0.05, function()
    axle.cancel_scope(nil, function() axle.sleep(math.huge) end)
    after = true
  end) == false and not after, "an outer deadline passes cancel_scope(fn)")
  -- Other errors pass through, and a wrong second argument is refused.
  local okf, err = pcall(axle.cancel_scope, nil, function() error("own") end)
  check(not okf and has(err.message, "own"), "fn's error passes through")
  okf, err = pcall(axle.cancel_scope, 1, 42)
  check(not okf and has(tostring(err), "function expected"),
        "cancel_scope(t, 42) refused")

  -- The <close> form cannot absorb its deadline: the Cancelled that
  -- escapes says which deadline expired and where it was set.
  local line = next_line()
  okf, err = pcall(function()
    local s <close> = axle.cancel_scope(0.05)
    axle.sleep(math.huge)
  end)
  line = line + 1
  check(not okf and err.type == "Cancelled", "an expired <close> scope")
  local want = ("the deadline of cancel_scope(0.05) set at %s:%d expired")
    :format(debug.getinfo(1, "S").short_src, line)
  check(err.message == want, "its message: " .. tostring(err.message))
  check(has(tostring(err), "Cancelled: " .. want), "its printed form")
  -- Busy code is stopped by the hook; the error names the deadline too.
  line = next_line()
  okf, err = pcall(function()
    local s <close> = axle.cancel_scope(0.05)
    while true do end
  end)
  check(not okf and has(err.message, ":" .. (line + 1) .. " expired"),
        "busy code under an expired <close> scope")
  -- Two expired scopes: the inner one, which caught it first, is named.
  line = next_line()
  okf, err = pcall(function()
    local outer <close> = axle.cancel_scope(0)
    local inner <close> = axle.cancel_scope(0)
    axle.sleep(math.huge)
  end)
  check(not okf and has(err.message, ":" .. (line + 2) .. " expired"),
        "the innermost expired scope is named")
  -- cancel() is no deadline: its Cancelled claims none.
  okf, err = pcall(function()
    local s <close> = axle.cancel_scope(60)
    s:cancel()
    axle.sleep(math.huge)
  end)
  check(not okf and err.type == "Cancelled" and
        not has(err.message, "deadline"), "cancel() names no deadline")
  -- An outer deadline is not blamed on an inner scope that had none.
  line = next_line()
  okf, err = pcall(function()
    local outer <close> = axle.cancel_scope(0.05)
    local inner <close> = axle.cancel_scope(60)
    axle.sleep(math.huge)
  end)
  check(not okf and has(err.message, ":" .. (line + 1) .. " expired"),
        "the outer deadline is named")

  -- TooSlowError says where its deadline was set (here: the pcall).
  line = debug.getinfo(1, "l").currentline + 1
  okf, err = pcall(axle.fail_after, 0.05, axle.sleep, math.huge)
  check(not okf and err.type == "TooSlowError" and
        err.message == ("the deadline of fail_after(0.05) set at %s:%d "
                        .. "expired"):format(debug.getinfo(1, "S").short_src,
                                             line),
        "TooSlowError's message: " .. tostring(err.message))
  check(has(err.traceback, "axle.sleep"), "TooSlowError shows the wait")
  print("scope forms ok")
end

function M.tasks()
  local order = {}
  do
    local tn <close> = axle.task_nursery()
    for i = 1, 3 do
      tn:spawn(function(k)
        axle.sleep(0.01 * (4 - k))
        order[#order + 1] = k
      end, i)
    end
  end
  check(#order == 3 and order[1] == 3 and order[3] == 1, "tasks interleave")
  -- axle.spawn: into the innermost task nursery this code has open.
  local got = {}
  do
    local outer <close> = axle.task_nursery()
    do
      local inner <close> = axle.task_nursery()
      axle.spawn(function(x) got[#got + 1] = x end, "inner")
    end
    axle.spawn(function(x) axle.sleep(0.01); got[#got + 1] = x end, "outer")
  end
  check(got[1] == "inner" and got[2] == "outer", "axle.spawn targets")
  check(not pcall(axle.spawn, print), "axle.spawn without a task nursery")
  -- A failing task cancels its siblings; the nursery raises its error.
  local cancelled = false
  local ok, err = pcall(function()
    local tn <close> = axle.task_nursery()
    tn:spawn(function()
      local ok2, e = pcall(axle.sleep, 10)
      cancelled = not ok2 and e.type == "Cancelled"
    end)
    tn:spawn(function() error("task failed") end)
  end)
  check(not ok and err.message:find("task failed", 1, true), "task error")
  check(cancelled, "sibling cancelled")
  -- A task nursery cancelled from outside while it waits does not swallow
  -- the cancellation: the code after it does not run on.
  local function waits_on_a_task()
    local tn <close> = axle.task_nursery()
    tn:spawn(function() axle.sleep(math.huge) end)
  end
  local okf, errf = pcall(axle.fail_after, 0.05, waits_on_a_task)
  check(not okf and errf.type == "TooSlowError",
        "fail_after through a task nursery raises TooSlowError")
  local ran_on = false
  check(axle.move_on_after(0.05, function()
    waits_on_a_task()
    ran_on = true
  end) == false and not ran_on, "move_on_after does not run on")
  -- close() does what the scope's end does, now; the end then does
  -- nothing more.
  do
    local tn <close> = axle.task_nursery()
    local done = false
    tn:spawn(function() axle.sleep(0.01); done = true end)
    tn:close()
    check(done, "tn:close() joined its task")
    local okc, errc = pcall(tn.spawn, tn, function() end)
    check(not okc and errc.type == "UsageError", "spawn after close")
  end
  print("tasks ok")
end

-- Busy in pure Lua: the checkpoint hook lets the cancel request reach it.
-- It says it is spinning by creating the file args.ready.
function M.spin(args)
  local guard <close> = setmetatable({}, {__close = function()
    io.stderr:write("spin unwound\n")
    io.stderr:flush()
  end})
  assert(io.open(args.ready, "w")):close()
  while true do end
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

function M.busy_child()
  local ready = os.tmpname()
  os.remove(ready)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("spinner")
  local tn <close> = axle.task_nursery()
  tn:spawn(function() pcall(p.run, p, "spin", {ready = ready}) end)
  -- Wait for the event (the child spinning); the bound only catches hangs.
  local deadline = axle.now() + 60
  while not exists(ready) do
    check(axle.now() < deadline, "the spinner never started")
    axle.sleep(0.01)
  end
  os.remove(ready)
  local t0 = axle.now()
  p:cancel_actor()
  print(("busy child stopped in %.2f s"):format(axle.now() - t0))
end

function M.main()
  M.scopes()
  M.scope_forms()
  M.tasks()
  M.busy_child()
end

return M
