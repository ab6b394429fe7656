-- dual_tool.lua - a program that doubles as a module: run by lua5.4 it
-- boots its own root; required by code an actor runs, its axle.run does
-- nothing and it is a plain module (stock_pcall.lua requires it).
local axle = require "axle"

local T = {}

function T.main()
  print("tool main")
end

function T.twice(x)
  return 2 * x
end

axle.run(T.main, T)
return T
