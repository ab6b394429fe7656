-- cellar_door.lua - run a function in a one-shot child actor and print
-- its result (tractor's first example).
--
-- Run:    axle run examples/lua/cellar_door.lua
--     or: lua5.4 examples/lua/cellar_door.lua  (with axle.so on LUA_CPATH)
-- Prints: Dang that's beautiful
local axle = require "axle"

local M = {}

function M.cellar_door()
  return "Dang that's beautiful"
end

function M.main()
  local n <close> = axle.open_nursery()
  local portal = n:run_in_actor(M.cellar_door)
  print(portal:result())
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
