-- stock_pcall.lua - axle.run called through pcall under the stock
-- interpreter still names this script as the root's module, so children
-- load it; a second axle.run is a clear error, never silence:
--   LUA_CPATH="build/bindings/lua/?.so;;" lua5.4 tests/lua/stock_pcall.lua
local axle = require "axle"

local M = {}

function M.hi()
  return "hi from " .. axle.current_actor().name
end

function M.main()
  local n <close> = axle.open_nursery()
  print(n:run_in_actor(M.hi, nil, {name = "kid"}):result())
end

print("first", pcall(axle.run, M.main, M))
local ok, err = pcall(axle.run, M.main, M)
local msg = type(err) == "table" and err.message or tostring(err)
print("second", ok, msg:find("already ran", 1, true) ~= nil)

-- A script that doubles as a module, required by a function an actor
-- runs: its top-level axle.run does nothing.
function M.required()
  print("required", require("dual_tool").twice(21))
end

-- Called by a function an actor runs (here under axle run), it is an
-- error too, never silence.
function M.nested()
  local ok2, err2 = pcall(axle.run, M.main, M)
  print("nested", ok2, err2.type, err2.message:find("already", 1, true) ~= nil)
end
return M
