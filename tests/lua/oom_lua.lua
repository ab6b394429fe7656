-- oom_lua.lua - the Lua actor of test_lua.c's out-of-memory sweep: a
-- few allocations of its Lua state fail, from the Nth after arm(), while a call is
-- served (lualimit, a test module, swaps the state's allocator).
local limit = require "lualimit"

local M = {}

function M.arm(args)
  limit.arm(args.after)
end

function M.echo(args)
  return args.value
end

function M.fail(args)
  error(args.message)
end

function M.hit()
  return limit.hit()
end

return M
