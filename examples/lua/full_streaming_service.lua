-- full_streaming_service.lua - a streaming service across a tree of
-- actors (tractor's full-fledged streaming service): two streamer actors
-- each produce 0..999; an aggregator actor, their parent, merges their
-- streams, drops the duplicates and streams the unique values up to the
-- root, which checks it got exactly 0..999, in order.
--
-- Run:    axle run examples/lua/full_streaming_service.lua
--     or: lua5.4 examples/lua/full_streaming_service.lua  (with axle.so on LUA_CPATH)
-- Prints: got 0..999: 1000 unique values in order
--         stream time: <seconds> s
local axle = require "axle"

local M = {}

-- A streamer: the values 0..seed-1, one at a time.
function M.stream_data(seed)
  for i = 0, seed - 1 do axle.yield(i) end
end

-- The aggregator: starts two streamers, takes a value from each in turn,
-- and passes on each value the first time it sees it.
function M.aggregate(seed)
  local n <close> = axle.open_nursery()
  local a = n:start_actor("streamer_1")
  local b = n:start_actor("streamer_2")
  local next_a, _, _, ctx_a = a:open_stream_from(M.stream_data, {seed})
  local stream_a <close> = ctx_a
  local next_b, _, _, ctx_b = b:open_stream_from(M.stream_data, {seed})
  local stream_b <close> = ctx_b
  local seen = {}
  while true do
    local va, vb = next_a(), next_b()
    if va == nil and vb == nil then break end
    for _, v in ipairs({va, vb}) do
      if not seen[v] then
        seen[v] = true
        axle.yield(v)
      end
    end
  end
  a:cancel_actor()
  b:cancel_actor()
end

function M.main()
  local n <close> = axle.open_nursery()
  local aggregator = n:start_actor("aggregator")
  local t0 = axle.now()
  local expected = 0
  for v in aggregator:open_stream_from(M.aggregate, {1000}) do
    assert(v == expected, "got " .. v .. ", expected " .. expected)
    expected = expected + 1
  end
  assert(expected == 1000, "got " .. expected .. " values")
  print("got 0.." .. expected - 1 .. ": " .. expected ..
        " unique values in order")
  print(string.format("stream time: %.3f s", axle.now() - t0))
  aggregator:cancel_actor()
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
