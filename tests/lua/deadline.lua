-- deadline.lua - a root whose own deadline expires: the Cancelled that
-- escapes is an error like any other (exit 1), not Ctrl-C (130).
local axle = require "axle"

local M = {}

function M.main()
  local s <close> = axle.cancel_scope(0.05)
  axle.sleep(10)
end

return M
