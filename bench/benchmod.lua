-- benchmod.lua - the Lua module axle-bench's Lua actors run.
local M = {}

-- One small value each way.
function M.echo(args)
  return args.v
end

-- The Lua caller of `axle-bench --instructions` (as `axle run benchmod.lua
-- pingpong n=N`): n round trips into a child running this module. The
-- argument is built once, as the C caller packs its argument once.
function M.pingpong(args)
  local axle = require "axle"
  local n <close> = axle.open_nursery()
  local p = n:start_actor("echo")
  local arg = {v = 42}
  for _ = 1, args.n do
    p:run("echo", arg)
  end
  p:cancel_actor()
end

return M
