-- left_open.lua - nurseries a function leaves open: each is cancelled and
-- closed, with a warning, when the function returns, so that the process
-- ends instead of waiting forever for the daemons in it. Run as
-- `axle run left_open.lua MODE`, or under the stock interpreter with
-- `lua5.4 left_open.lua` (mode main).
local axle = require "axle"

local M = {}

function M.hi()
  return "hi"
end

function M.boom()
  error("boom")
end

-- A daemon started in a nursery never closed.
function M.main()
  local n = axle.open_nursery()
  local p = n:start_actor("daemon")
  print(p:run("hi"))
end

-- The same in a task: the task's end closes it.
function M.task()
  local t <close> = axle.task_nursery()
  axle.spawn(function()
    local n = axle.open_nursery()
    print(n:start_actor("daemon"):run("hi"))
  end)
end

-- A child's failure in a nursery left open is not lost: the closing
-- raises it.
function M.failing()
  local n = axle.open_nursery()
  local p = n:run_in_actor(M.boom)
  -- Wait until the failure is known: the one-shot is gone then.
  local ok, err = pcall(p.result, p)
  print("result", ok, err.type)
end

-- The same while the function waits: the failure cancels it, and the
-- closing raises the failure instead of that Cancelled.
function M.failing_waiting()
  local n = axle.open_nursery()
  n:run_in_actor(M.boom)
  axle.sleep(30)
end

-- Several left open close newest first, as scopes do (out of order, the
-- runtime complained of cancel scopes closed out of order).
function M.three()
  local a = axle.open_nursery()
  local b = axle.open_nursery()
  local c = axle.open_nursery()
  a:start_actor("a")
  b:start_actor("b")
  c:start_actor("c")
end

-- One a coroutine opened is no function's to close: once unreachable it is
-- collected, and cancelled then.
function M.coroutine()
  coroutine.wrap(function()
    axle.open_nursery():start_actor("orphan")
  end)()
  collectgarbage()
  collectgarbage()
  print("collected")
end

-- Another task cancelling a nursery while it closes reaches nothing freed.
function M.cancel_while_closing()
  for i = 1, 10 do
    local tn <close> = axle.task_nursery()
    local n = axle.open_nursery()
    n:start_actor("w" .. i)
    local stop = false
    for _ = 1, 3 do
      tn:spawn(function()
        while not stop do
          axle.sleep(0)
          n:cancel()
        end
      end)
    end
    n:cancel()
    getmetatable(n).__close(n)
    stop = true
  end
  print("closed ten")
end

function M.forever()
  axle.sleep(math.huge)
end

function M.work()
  axle.sleep(1)
  return "done"
end

-- While a nursery closes, another task can still cancel it (the close
-- then ends, instead of waiting forever) and use its portals.
function M.while_closing()
  local tn <close> = axle.task_nursery()
  local n = axle.open_nursery()
  local p = n:run_in_actor(M.work)
  n:run_in_actor(M.forever)
  tn:spawn(function()
    print("sibling result", p:result())
    n:cancel()
  end)
  getmetatable(n).__close(n)
  print("closed")
end

-- In a child: the function it serves returns with a nursery open, and
-- the child serves on.
function M.nested()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("middle")
  p:run(M.main)
  print(p:run(M.hi))
  p:cancel_actor()
end

-- A C child whose function left a nursery open: cancelling the child
-- takes that nursery's actors down too, and the child exits in time.
function M.c_child(args)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("c", {module = args.testmod})
  print(type(p:run("leave_open")))
  p:cancel_actor()
end

axle.run(M.main, M)
return M
