-- stream_squares.lua - the Lua consumer of a C context function
-- (examples/c/stream_squares.c): it starts the C plugin in an actor, opens
-- its context, takes the squares from its stream and the sum it returns.
--
-- Run:    axle run examples/lua/stream_squares.lua   (from the top of the
--         checkout, after building)
--         or with the plugin elsewhere:
--         axle run examples/lua/stream_squares.lua main plugin=c:PATH.so
-- Prints: streaming 5 squares from C
--         1 4 9 16 25
--         sum 55
local axle = require "axle"

local M = {}

function M.main(args)
  local plugin = args and args.plugin or "c:build/examples/c/stream_squares.so"
  local n <close> = axle.open_nursery()
  local squares = n:start_actor("squares", {module = plugin})
  do
    local ctx <close>, count = squares:open_context("squares", {n = 5})
    print("streaming " .. count .. " squares from C")
    local got = {}
    local stream <close> = ctx:open_stream()
    for v in stream do got[#got + 1] = v end
    print(table.concat(got, " "))
    print("sum " .. ctx:result())
  end
  squares:cancel_actor()
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
