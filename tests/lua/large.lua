-- large.lua - strings larger than a frame (16 MiB) to another Lua actor
-- and back, whole (they travel in parts); one larger than the maximum
-- message size (64 MiB) is refused with MessageTooLarge, and the actor
-- keeps serving. Run as `axle run large.lua main`.
local axle = require "axle"

local M = {}

function M.echo(s) return s end
function M.len(s) return #s end
function M.make(n) return string.rep("ab", n // 2) end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("large")
  local s = string.rep("0123456789abcdef", (20 << 20) // 16)
  local back = p:run("echo", {s})
  print("20 MiB echo", #back, back == s)
  print("20 MiB result", #p:run("make", {20 << 20}))
  local ok, err = pcall(p.run, p, "echo", {string.rep("x", 65 << 20)})
  print("too large", ok, err.type, err.message:find("(max_message)", 1, true)
        ~= nil)
  print("still serving", p:run("len", {"abc"}))
  p:cancel_actor()
end

return M
