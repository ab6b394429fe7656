-- stock_helper.lua - a module found by dotted name (lua:stock_helper) in
-- the root script's folder.
local M = {}

function M.double(x)
  return x * 2
end

return M
