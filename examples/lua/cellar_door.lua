-- cellar_door.lua - run a function in a one-shot child actor and print
-- its result (tractor's first example).
--
-- Run:    axle run examples/lua/cellar_door.lua
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

return M
