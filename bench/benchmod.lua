-- benchmod.lua - the Lua module axle-bench's Lua actors run.
local M = {}

-- One small value each way.
function M.echo(args)
  return args.v
end

return M
