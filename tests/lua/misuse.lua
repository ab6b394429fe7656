-- misuse.lua - mistakes a user makes on purpose, each a clear error at
-- the call, never a hang or an option silently ignored. Run as
-- `axle run misuse.lua main`.
local axle = require "axle"

local M = {}

function M.hi()
  return "hi"
end

-- The call fails and its message mentions every word given.
local function refused(words, f, ...)
  local ok, err = pcall(f, ...)
  if ok then return false end
  local msg = type(err) == "table" and err.message or tostring(err)
  for _, w in ipairs(words) do
    if not msg:find(w, 1, true) then return false, msg end
  end
  return true
end

function M.main()
  local n <close> = axle.open_nursery()
  print("unknown option", refused({"unknown option 'enable'",
                                   "enable_modules"},
                                  n.start_actor, n, "a", {enable = {}}))
  print("bad loglevel", refused({"loglevel", "loud"},
                                n.start_actor, n, "a", {loglevel = "loud"}))
  print("bad enable", refused({"enable_modules[1]"},
                              n.start_actor, n, "a", {enable_modules = {1}}))
  print("bad name option", refused({"unknown option 'nam'"},
                                   n.run_in_actor, n, M.hi, nil, {nam = "x"}))
  local p = n:start_actor("named", {loglevel = "DEBUG"})
  print("loglevel by name", p:run("hi") == "hi")
  p:cancel_actor()
  n:cancel()
  print("start after cancel", refused({"cancelled"},
                                      n.start_actor, n, "late"))
end

return M
