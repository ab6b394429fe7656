-- cli.lua - functions `axle run` calls with arguments from the command
-- line (tests/integration/test_cli.c).
local M = {}

-- Positional values arrive as the function's arguments, in order.
function M.add(a, b)
  return a + b
end

-- Each argument's Lua type, to see how the command line parsed it.
function M.types(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = math.type(v) or type(v)
  end
  return table.concat(out, " ")
end

-- Keyword values arrive as one table.
function M.greet(args)
  return "hello " .. args.who
end

return M
