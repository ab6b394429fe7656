-- reports.lua - errors as `axle run` prints them: each function ends in
-- an error the root does not catch, and the test reads what was
-- printed. Run by tests/integration/test_lua.c as
--   axle run tests/lua/reports.lua FUNCTION [testmod=c:...]
local axle = require "axle"

local M = {}

-- A one-shot child killed by SIGSEGV.
function M.crash(args)
  local n <close> = axle.open_nursery()
  n:run_in_actor("read_at", {addr = 0},
                 {name = "crasher", module = args.testmod})
end

-- A child whose module is not there.
function M.bad_start()
  local n <close> = axle.open_nursery()
  n:start_actor("nomod", {module = "lua:does_not_exist"})
end

return M
