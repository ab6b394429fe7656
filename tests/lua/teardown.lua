-- teardown.lua - a chain of Lua actors above a C actor wedged in a system
-- call that ignores cancel requests and SIGTERM: the root cancels the
-- chain, and each middle actor must be given the time its own teardown
-- needs, so that it reaps its child and runs its <close> handlers.
-- Run by tests/integration/test_teardown.c as
--   axle run tests/lua/teardown.lua main testmod=c:... levels=N [func=F]
--     [time=T]
-- with N middle actors (0: the root starts the C actor itself), which
-- runs F of the test plugin (default wedge) with {seconds = 60, time = T}.
local axle = require "axle"

local M = {}

-- Writes "closed NAME" once everything declared after it has closed.
local function closer(name)
  return setmetatable({}, {__close = function()
    io.stdout:write("closed ", name, "\n")
    io.stdout:flush()
  end})
end

-- Start the next level in n: a middle actor, or at the bottom the C one.
local function below(n, args)
  if args.levels > 0 then
    local next_args = {}
    for k, v in pairs(args) do next_args[k] = v end
    next_args.levels = args.levels - 1
    n:run_in_actor(M.middle, next_args, {name = "middle" .. args.levels})
  else
    n:run_in_actor(args.func or "wedge", {seconds = 60, time = args.time},
                   {module = args.testmod, name = "wedged"})
  end
end

-- One level of the chain: start what is below, wait to be cancelled.
function M.middle(args)
  local done <close> = closer(axle.current_actor().name)
  local n <close> = axle.open_nursery()
  below(n, args)
  axle.sleep(math.huge)
end

function M.main(args)
  local n <close> = axle.open_nursery()
  below(n, args)
  axle.sleep(math.huge)
end

return M
