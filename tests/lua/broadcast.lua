-- broadcast.lua - one stream, several local receivers: each subscriber
-- gets every value; one that falls more than its buffer behind gets
-- Lagged and can subscribe again; subscribing after the end is an error.
-- Run by tests/integration/test_lua.c: axle run tests/lua/broadcast.lua
local axle = require "axle"

local M = {}

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

M.numbers = axle.context(function(ctx, n)
  ctx:started()
  local s <close> = ctx:open_stream()
  for i = 1, n do s:send(i) end
end)

local function collect(sub)
  local got = {}
  for v in sub do got[#got + 1] = v end
  return got
end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("numbers")

  -- Three tasks each get all 300 values, in order.
  do
    local ctx <close> = p:open_context(M.numbers, {300})
    local s <close> = ctx:open_stream()
    local subs = {s:subscribe(16), s:subscribe(16), s:subscribe(16)}
    local tn <close> = axle.task_nursery()
    local tasks = {}
    for i = 1, 3 do tasks[i] = tn:spawn(collect, subs[i]) end
    for i = 1, 3 do
      local got = tasks[i]:join()
      check(#got == 300 and got[1] == 1 and got[300] == 300,
            "subscriber " .. i .. " got " .. #got)
    end
    local ok, err = pcall(s.subscribe, s)
    check(not ok and err.type == "UsageError"
          and err.message:find("has ended", 1, true), "late subscribe")
  end
  print("fan-out ok")

  -- Misuse: a buffer that is no count, reading the stream itself once it
  -- has subscribers; each a typed error that says what to do.
  do
    local ctx <close> = p:open_context(M.numbers, {3})
    local s <close> = ctx:open_stream()
    for _, bad in ipairs({1.5, "x", math.huge, -1}) do
      local ok, err = pcall(s.subscribe, s, bad)
      check(not ok and type(err) == "table" and err.type == "UsageError"
            and err.message:find("a count", 1, true),
            "subscribe(" .. tostring(bad) .. "): " .. tostring(err))
    end
    local sub <close> = s:subscribe()
    local ok, err = pcall(s.recv, s)
    check(not ok and err.type == "UsageError"
          and err.message:find("subscription", 1, true), tostring(err))
    check(#collect(sub) == 3, "the subscription gets them")
  end
  print("misuse ok")

  -- One subscriber reads everything while another waits: the waiting one
  -- is more than its buffer of 8 behind, gets Lagged, and may subscribe
  -- again.
  do
    local ctx <close> = p:open_context(M.numbers, {100})
    local s <close> = ctx:open_stream()
    local fast, slow = s:subscribe(8), s:subscribe(8)
    check(fast:recv() == 1, "fast first")
    for _ = 2, 50 do fast:recv() end
    local ok, err = pcall(slow.recv, slow)
    check(not ok and err.type == "Lagged", "lagged: " .. tostring(err))
    check(slow:recv() == nil, "a lagged subscription ends")
    local again = s:subscribe(8)
    check(fast:recv() == 51, "fast goes on")
    check(again:recv() == 51, "a new subscription gets what came after")
    check(#collect(fast) == 49, "fast to the end")
  end
  print("lagged ok")
  p:cancel_actor()
  print("broadcast ok")
end

return M
