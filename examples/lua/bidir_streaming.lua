-- bidir_streaming.lua - a context with a stream both ways (tractor's
-- simple_rpc): the callee answers started(data + 1), then 10 ping/pong
-- round trips go over one stream.
--
-- Run:    axle run examples/lua/bidir_streaming.lua
--     or: lua5.4 examples/lua/bidir_streaming.lua  (with axle.so on LUA_CPATH)
-- Prints: started with 11
--         10 round trips
--         the callee answered 10 pings
local axle = require "axle"

local M = {}

-- The callee: its first value, then a pong for every ping until the
-- caller closes its side of the stream.
M.simple_rpc = axle.context(function(ctx, data)
  ctx:started(data + 1)
  local count = 0
  local stream <close> = ctx:open_stream()
  for msg in stream do
    assert(msg == "ping", "expected ping, got " .. tostring(msg))
    stream:send("pong")
    count = count + 1
  end
  return count
end)

function M.main()
  local n <close> = axle.open_nursery()
  local portal = n:start_actor("rpc_server")
  do
    local ctx <close>, sent = portal:open_context(M.simple_rpc, {10})
    print("started with " .. sent)
    do
      local stream <close> = ctx:open_stream()
      for _ = 1, 10 do
        stream:send("ping")
        assert(stream:recv() == "pong")
      end
      print("10 round trips")
    end -- closing the stream ends the callee's loop
    print("the callee answered " .. ctx:result() .. " pings")
  end
  portal:cancel_actor()
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
