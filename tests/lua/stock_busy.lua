-- stock_busy.lua - a root busy in pure Lua under the stock interpreter:
--   LUA_CPATH="build/bindings/lua/?.so;;" lua5.4 tests/lua/stock_busy.lua
-- It says "spinning", then never calls axle again. SIGINT or SIGTERM must
-- still stop it, through its <close> handler.
local axle = require "axle"

local M = {}

function M.main()
  local guard <close> = setmetatable({}, {__close = function()
    io.stdout:write("root unwound\n")
    io.stdout:flush()
  end})
  io.stdout:write("spinning\n")
  io.stdout:flush()
  local x = 0
  while true do x = x + 1 end
end

axle.run(M.main, M)
return M
