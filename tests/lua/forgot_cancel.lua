-- forgot_cancel.lua - a daemon nobody cancels: closing its nursery waits
-- for it for ever, and after a few seconds says so at the default log
-- level. Run by tests/integration/test_lua.c, which then sends SIGTERM.
local axle = require "axle"
local M = {}

function M.hello() return "hi" end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("forgotten")
  assert(p:run(M.hello) == "hi")
end -- no p:cancel_actor(): leaving the nursery waits for the daemon

return M
