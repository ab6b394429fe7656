-- stock.lua - a script run by the stock interpreter:
--   LUA_CPATH="build/bindings/lua/?.so;;" lua5.4 tests/lua/stock.lua
-- axle.run boots this process as the root actor; the children (axle
-- hosts) load the same file as a module, where axle.run does nothing.
local axle = require "axle"

local M = {}

function M.hi()
  return "hi from " .. axle.current_actor().name
end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:run_in_actor(M.hi, nil, {name = "kid"})
  print(p:result())
  -- A dotted module name, found in this script's folder.
  local h = n:start_actor("helper", {module = "lua:stock_helper"})
  print(h:run("double", {21}))
  h:cancel_actor()
end

axle.run(M.main, M)
return M
