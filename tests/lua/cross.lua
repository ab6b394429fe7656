-- cross.lua - a Lua root calls a C actor, which runs a Lua grandchild:
-- results and errors cross both language boundaries.
-- Run by tests/integration/test_lua.c as
--   axle run tests/lua/cross.lua main testmod=c:... self=lua:...
local axle = require "axle"

local M = {}

function M.greet()
  return "hi from " .. axle.current_actor().name
end

function M.fail()
  error("lua grandchild failed")
end

function M.main(args)
  local n <close> = axle.open_nursery()
  local c = n:start_actor("cchild", {module = args.testmod})
  print(c:run("add", {a = 1, b = 2}))
  -- An empty table is an empty array to a C function that wants one.
  print(c:run("sum", {values = {}}), c:run("sum", {values = {1, 2, 3}}))
  print(c:run("relay_call", {module = args.self, func = "greet"}))
  local ok, err = pcall(c.run, c, "relay_call",
                        {module = args.self, func = "fail"})
  assert(not ok)
  print(err.type, err.src.name, #err.relay_path)
  for _, hop in ipairs(err.relay_path) do print("hop", hop.name) end
  assert(err.message:find("lua grandchild failed", 1, true))
  c:cancel_actor()
end

return M
