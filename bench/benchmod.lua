-- benchmod.lua - the Lua module axle-bench's Lua actors run.
local M = {}

-- One small value each way.
function M.echo(args)
  return args.v
end

-- The Lua caller of `axle-bench --instructions` (as `axle run benchmod.lua
-- pingpong n=N`): n round trips into a child running this module. The
-- argument is built once, as the C caller packs its argument once.
function M.pingpong(args)
  local axle = require "axle"
  local n <close> = axle.open_nursery()
  local p = n:start_actor("echo")
  local arg = {v = 42}
  for _ = 1, args.n do
    p:run("echo", arg)
  end
  p:cancel_actor()
end

-- Streams the integers 1..n (a context).
M.produce = require("axle").context(function(ctx, n)
  ctx:started()
  local s <close> = ctx:open_stream()
  for i = 1, n do s:send(i) end
end)

-- The Lua consumer of axle-bench's stream figure (as `axle run
-- benchmod.lua stream_rate n=N rounds=R`): the median of R rounds of n
-- values from a Lua actor, printed as "msgs_per_s: X".
function M.stream_rate(args)
  local axle = require "axle"
  local nur <close> = axle.open_nursery()
  local p = nur:start_actor("producer")
  local rates = {}
  for r = 1, args.rounds do
    local t0 = axle.now()
    local k = 0
    do
      local ctx <close> = p:open_context(M.produce, {args.n})
      local s <close> = ctx:open_stream()
      for _ in s do k = k + 1 end
    end
    assert(k == args.n, "values lost")
    rates[r] = k / (axle.now() - t0)
  end
  table.sort(rates)
  print(string.format("msgs_per_s: %.0f", rates[(#rates + 1) // 2]))
  p:cancel_actor()
end

return M
