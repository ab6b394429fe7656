-- load_loop_parent.lua - starts an actor whose module never ends loading
-- (load_loop.lua), and says how the start failed once the test has sent
-- that actor SIGTERM.
local axle = require "axle"

local M = {}

function M.main()
  local n <close> = axle.open_nursery()
  local ok, err = pcall(n.start_actor, n, "looper", {module = "lua:load_loop"})
  print("start failed", not ok, type(err) == "table" and err.type,
        type(err) == "table" and err.message)
end

return M
