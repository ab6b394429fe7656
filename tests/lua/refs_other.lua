-- refs_other.lua - a module with a function of the same name as one of
-- refs.lua's: which one runs depends on the module a reference names.
local M = {}

function M.hello()
  return "other.hello"
end

return M
