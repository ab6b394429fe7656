-- oom.lua - the Lua actor of test_limits.c's out-of-memory sweeps: its
-- calls are served while the allocator fails (armed through the test
-- plugin, which the actor enables).
local M = {}

function M.echo(args)
  return args.value
end

function M.fail(args)
  error(args.message)
end

return M
