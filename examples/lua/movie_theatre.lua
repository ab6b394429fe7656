-- movie_theatre.lua - a daemon actor answers calls until it is cancelled.
--
-- Run:    axle run examples/lua/movie_theatre.lua
--     or: lua5.4 examples/lua/movie_theatre.lua  (with axle.so on LUA_CPATH)
-- Prints: have you ever seen a portal?   (twice)
local axle = require "axle"

local M = {}

function M.movie_theatre_question()
  return "have you ever seen a portal?"
end

function M.main()
  local n <close> = axle.open_nursery()
  local portal = n:start_actor("frank")
  print(portal:run(M.movie_theatre_question))
  print(portal:run(M.movie_theatre_question))
  portal:cancel_actor()
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
