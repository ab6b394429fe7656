-- refs.lua - how a function reference crosses: it names its module, so
-- that an actor running another module never runs a namesake; a name
-- given as a string is looked up in the callee's own module. Run as
-- `axle run refs.lua main`.
local axle = require "axle"
local other = require "refs_other"

local M = {}

function M.hello()
  return "refs.hello"
end

-- What a call gives: its result, or its error's type.
local function outcome(f, ...)
  local ok, r = pcall(f, ...)
  if ok then return r end
  return type(r) == "table" and r.type or tostring(r)
end

function M.main()
  local me = "lua:" .. debug.getinfo(1, "S").source:sub(2)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("other", {module = "lua:refs_other"})
  print("reference to a module it does not run", outcome(p.run, p, M.hello))
  print("name", outcome(p.run, p, "hello"))
  print("reference to its own module", outcome(p.run, p, other.hello))
  local q = n:start_actor("both", {module = "lua:refs_other",
                                   enable_modules = {me}})
  print("reference to an enabled module", outcome(q.run, q, M.hello))
  local r = n:start_actor("same")
  print("reference to the same module", outcome(r.run, r, M.hello))
  print("one-shot of a required module",
        outcome(function() return n:run_in_actor(other.hello):result() end))
  print("one-shot in another module", outcome(n.run_in_actor, n, M.hello,
                                              nil, {module = "lua:refs_other"}))
  n:cancel()
end

return M
