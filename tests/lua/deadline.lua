-- deadline.lua - a root whose own deadline expires: the Cancelled that
-- escapes is an error like any other (exit 1), not Ctrl-C (130), and it
-- says which deadline expired and where it was set (main); so does an
-- uncaught TooSlowError (too_slow).
local axle = require "axle"

local M = {}

function M.main()
  local s <close> = axle.cancel_scope(0.05)
  axle.sleep(10)
end

function M.too_slow()
  axle.fail_after(0.05, axle.sleep, 10)
end

return M
