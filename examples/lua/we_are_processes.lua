-- we_are_processes.lua - zombie safe: self-destruct a process tree.
--
-- One worker per CPU sleeps forever; after a second the root raises. The
-- error cancels every worker, the nursery reaps them all, and only then
-- does the error reach the root, which reports the tree contained.
--
-- Run:    axle run examples/lua/we_are_processes.lua
--     or: lua5.4 examples/lua/we_are_processes.lua  (with axle.so on LUA_CPATH)
-- Prints: This process tree will self-destruct in 1 sec...
--         Zombies Contained
local axle = require "axle"

local M = {}

function M.target()
  axle.sleep(1e9)
end

function M.main()
  local ok, err = pcall(function()
    local n <close> = axle.open_nursery()
    for i = 1, axle.cpu_count() do
      n:run_in_actor(M.target, nil, {name = "worker_" .. i})
    end
    print("This process tree will self-destruct in 1 sec...")
    io.stdout:flush()
    axle.sleep(1)
    error("Self Destructed")
  end)
  assert(not ok and tostring(err):find("Self Destructed", 1, true))
  print("Zombies Contained")
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
