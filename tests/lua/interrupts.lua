-- interrupts.lua - busy Lua code meets cancellation, run under valgrind's
-- memcheck by the test suite: a deadline stops a busy loop in the root, a
-- busy child unwinds at its parent's cancel request, and a busy task is
-- cancelled by its task nursery.
local axle = require "axle"

local M = {}

local function spin()
  local x = 0
  while true do x = x + 1 end
end

function M.spinner()
  local guard <close> = setmetatable({}, {__close = function()
    io.stderr:write("child unwound\n")
  end})
  spin()
end

function M.main()
  -- A deadline interrupts busy code in this very task.
  local ok = axle.move_on_after(0.1, spin)
  assert(ok == false, "the deadline did not stop the loop")
  -- A second deadline in the same thread stops its loop too.
  ok = axle.move_on_after(0.1, spin)
  assert(ok == false, "the second deadline did not stop the loop")
  print("deadline ok")
  -- A busy child is cancelled by its parent.
  local n <close> = axle.open_nursery()
  local p = n:start_actor("spinner")
  local tn <close> = axle.task_nursery()
  tn:spawn(function() pcall(p.run, p, "spinner") end)
  axle.sleep(0.2)
  p:cancel_actor()
  print("child ok")
  -- A busy task is cancelled with its task nursery.
  local t = tn:spawn(spin)
  axle.sleep(0.05)
  t:cancel()
  print("task ok")
end

return M
