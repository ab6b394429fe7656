-- stream_forever.lua - an endless stream, cut short: a generator that
-- never ends streams into the root, which stops after 1 second with
-- axle.move_on_after; the producer is cancelled and the tree torn down.
--
-- Run:    axle run examples/lua/stream_forever.lua
--     or: lua5.4 examples/lua/stream_forever.lua  (with axle.so on LUA_CPATH)
-- Prints: streamed for 1 s, then moved on
local axle = require "axle"

local M = {}

-- Counts up forever.
function M.forever()
  local i = 0
  while true do
    i = i + 1
    axle.yield(i)
  end
end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("streamer")
  local last = 0
  local done = axle.move_on_after(1, function()
    for v in p:open_stream_from(M.forever) do last = v end
  end)
  assert(done == false and last > 0, "the stream should be cut short")
  print("streamed for 1 s, then moved on")
  p:cancel_actor() -- the producer was cancelled when the loop was left
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
