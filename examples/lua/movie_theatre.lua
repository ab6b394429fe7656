-- movie_theatre.lua - a daemon actor answers calls until it is cancelled.
--
-- Run:    axle run examples/lua/movie_theatre.lua
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

return M
