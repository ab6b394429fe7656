-- oom_lua.lua - the Lua actor of test_lua.c's out-of-memory sweep: oom.lua's
-- echo and fail, plus arm and hit, which make a few allocations of the
-- actor's Lua state fail from the Nth after arm() (lualimit, a test
-- module, swaps the state's allocator).
local limit = require "lualimit"
local M = require "oom"

function M.arm(args)
  limit.arm(args.after)
end

function M.hit()
  return limit.hit()
end

return M
