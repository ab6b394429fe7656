-- single_func.lua - burn CPU in a child actor and in the parent at the
-- same time, then collect the child's result: its pid.
--
-- Run:    axle run examples/lua/single_func.lua
--     or: lua5.4 examples/lua/single_func.lua  (with axle.so on LUA_CPATH)
-- Prints: Collected subproc <pid>
local axle = require "axle"

local M = {}

function M.burn_cpu()
  local x = 0
  for i = 1, 5000000 do x = x + i % 7 end
  return axle.current_actor().pid
end

function M.main()
  local n <close> = axle.open_nursery()
  local portal = n:run_in_actor(M.burn_cpu)
  local mine = M.burn_cpu() -- meanwhile, here
  local theirs = portal:result()
  assert(theirs ~= mine, "the child ran in our process")
  print(("Collected subproc %d"):format(theirs))
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
