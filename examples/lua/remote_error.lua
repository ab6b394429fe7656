-- remote_error.lua - three daemons and one actor whose function fails an
-- assertion. The failure cancels the daemons and reaches the root as an
-- error value naming its source actor; the root prints it and exits 0.
--
-- Run:    axle run examples/lua/remote_error.lua
--     or: lua5.4 examples/lua/remote_error.lua  (with axle.so on LUA_CPATH)
-- Prints: the remote error, with "assertion failed!" and actor 'errorer'
local axle = require "axle"

local M = {}

function M.assert_err()
  assert(false)
end

function M.main()
  local ok, err = pcall(function()
    local n <close> = axle.open_nursery()
    for i = 1, 3 do
      n:start_actor("daemon_" .. i)
    end
    n:run_in_actor(M.assert_err, nil, {name = "errorer"})
  end)
  assert(not ok, "the nursery should have failed")
  print(tostring(err))
  print(("caught %s from actor '%s'"):format(err.type, err.src.name))
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
