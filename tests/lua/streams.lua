-- streams.lua - streams between Lua actors: both ways, past the windows,
-- a receiver that opens late, errors and cancels mid-stream, breaking out
-- of a loop, misuse. Run by tests/integration/test_lua.c:
-- axle run tests/lua/streams.lua
local axle = require "axle"

local M = {}

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

-- Sends 1..n at once (waiting for credit when the window is full), then
-- per mode: "end" returns n, "fail" raises after sending, "wait" takes
-- values until the caller's stop and returns how many.
M.producer = axle.context(function(ctx, n, mode)
  ctx:started("ready")
  local s <close> = ctx:open_stream()
  for i = 1, n do s:send(i) end
  if mode == "fail" then error({code = 9, message = "producer failed"}) end
  if mode == "wait" then
    local k = 0
    for _ in s do k = k + 1 end
    return k
  end
  return n
end)

-- Echoes every value back until the stream ends.
M.echo = axle.context(function(ctx)
  ctx:started()
  local s <close> = ctx:open_stream()
  local k = 0
  for v in s do
    s:send(v)
    k = k + 1
  end
  return k
end)

-- Sends a small value, then one of `big` bytes (mode "order": straight
-- away; "grow": after the caller's "go"), then returns.
M.small_then_big = axle.context(function(ctx, big, mode)
  ctx:started()
  local s <close> = ctx:open_stream()
  s:send("small")
  if mode == "grow" then assert(s:recv() == "go") end
  s:send(string.rep("x", big))
  return "done"
end)

-- Starts with a value of `big` bytes, then answers each value with
-- itself and its length, until the caller's stop.
M.big_echo = axle.context(function(ctx, big)
  ctx:started(string.rep("s", big))
  local s <close> = ctx:open_stream()
  for v in s do
    s:send(v)
    s:send(#v)
  end
  return "done"
end)

-- Takes the caller's values until its stop; returns how many.
M.reader = axle.context(function(ctx)
  ctx:started()
  local s <close> = ctx:open_stream()
  local k = 0
  for _ in s do k = k + 1 end
  return k
end)

-- Opens its stream before started: a usage error, returned as text.
M.too_soon = axle.context(function(ctx)
  local ok, err = pcall(ctx.open_stream, ctx)
  ctx:started(ok and "no error" or err.type .. ": " .. err.message)
  return "done"
end)

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("peer")

  -- Both ways, thousands of values: past both windows, in order.
  do
    local ctx <close> = p:open_context(M.echo)
    local s <close> = ctx:open_stream()
    local got = 0
    for i = 1, 3000 do
      s:send(i)
      if i > 16 then
        got = got + 1
        check(s:recv() == got, "echo order")
      end
    end
    s:close()
    check(ctx:result() == 3000, "echo count")
  end
  print("both ways ok")

  -- A receiver that opens its stream late: the producer waited at the end
  -- of its window; every value arrives, in order, then the end.
  do
    local ctx <close>, first = p:open_context(M.producer, {5000, "end"})
    check(first == "ready", "first")
    axle.sleep(0.05) -- the producer fills its window meanwhile
    local s <close> = ctx:open_stream()
    local k = 0
    for v in s do
      k = k + 1
      check(v == k, "order")
    end
    check(k == 5000, "all values: " .. k)
    check(ctx:result() == 5000, "producer result")
  end
  print("late receiver ok")

  -- The producer fails mid-stream: the loop ends with its error.
  local ok, err = pcall(function()
    local ctx <close> = p:open_context(M.producer, {10, "fail"})
    local s <close> = ctx:open_stream()
    local k = 0
    for _ in s do k = k + 1 end
    error("the loop ended without the error after " .. k)
  end)
  check(not ok and err.code == 9, "producer error: " .. tostring(err))
  print("producer error ok")

  -- Breaking out of the loop: closing our side ends the producer's loop.
  do
    local ctx <close> = p:open_context(M.producer, {3, "wait"})
    local s <close> = ctx:open_stream()
    for v in s do
      if v == 2 then break end
    end
    s:send("a")
    s:send("b")
    s:close()
    check(ctx:result() == 2, "the producer took what we sent")
  end
  print("break ok")

  -- Cancelling the callee mid-stream: absorbed; the actor serves on.
  do
    local ctx <close> = p:open_context(M.producer, {1e9, "end"})
    local s <close> = ctx:open_stream()
    check(s:recv() == 1, "first of many")
    ctx:cancel()
    -- Asked for here, its ContextCancelled ends the loop as an end does.
    local okr, e = pcall(function() for _ in s do end end)
    check(okr, "the loop ended: " .. tostring(e))
    okr, e = pcall(ctx.result, ctx)
    check(not okr and e.type == "ContextCancelled", "cancelled: " .. tostring(e))
  end
  print("cancel ok")

  -- Order: a value large enough to go in parts elsewhere is not
  -- overtaken by the small one after it.
  do
    local ctx <close> = p:open_context(M.small_then_big, {100000, "order"})
    local s <close> = ctx:open_stream()
    check(s:recv() == "small", "small first")
    check(#s:recv() == 100000, "then the large value")
    check(ctx:result() == "done", "order result")
  end
  -- A value larger than the rest of the window: the taker credits back
  -- what it took before it waits, or both would wait for ever.
  do
    local ctx <close> = p:open_context(M.small_then_big, {2 << 20, "order"})
    local s <close> = ctx:open_stream()
    check(s:recv() == "small", "small")
    check(#s:recv() == 2 << 20, "2 MiB after it")
  end
  -- Growing the window keeps count of what is outstanding: the large
  -- value waits for "small" to be taken, not a protocol error.
  do
    local ctx <close> = p:open_context(M.small_then_big, {2 << 20, "grow"})
    local s <close> = ctx:open_stream({window = 2048})
    s:send("go")
    check(s:recv() == "small", "small, grown")
    check(#s:recv() == 2 << 20, "2 MiB, grown")
  end
  -- Values larger than a frame (16 MiB) go in parts, both ways, and
  -- neither the small values around them nor the result overtake them.
  do
    local big = string.rep("0123456789abcdef", (20 << 20) // 16)
    local ctx <close>, first = p:open_context(M.big_echo, {20 << 20})
    check(#first == 20 << 20, "a started value larger than a frame")
    local s <close> = ctx:open_stream()
    -- A value larger than the window waits for all before it to be
    -- taken, so each side takes before it sends the next.
    s:send(big)
    check(s:recv() == big, "a value larger than a frame, back")
    s:send("x")
    check(s:recv() == 20 << 20, "its length after it")
    check(s:recv() == "x", "the small value after the large one")
    check(s:recv() == 1, "and its length")
    -- Over the maximum message size (64 MiB): refused, the stream goes on.
    local okh, eh = pcall(s.send, s, string.rep("y", 65 << 20))
    check(not okh and eh.type == "MessageTooLarge"
          and eh.message:find("(max_message)", 1, true)
          and eh.message:find(tostring(64 << 20) .. " bytes", 1, true),
          tostring(eh))
    s:send("after")
    check(s:recv() == "after" and s:recv() == 5, "the stream goes on")
    s:close()
    check(ctx:result() == "done", "the result after them")
  end
  -- A first value over the maximum: the callee's started raises, and its
  -- error ends the open.
  do
    local okc, ec = pcall(p.open_context, p, M.big_echo, {65 << 20})
    check(not okc and ec.type == "MessageTooLarge"
          and ec.message:find("started:", 1, true)
          and ec.message:find(tostring(64 << 20) .. " bytes", 1, true),
          tostring(ec))
  end
  print("large values ok")

  -- Leaving a context whose stream this side never opened: the callee's
  -- values past the window are dropped and credited, and a callee that
  -- reads ends with our stop; nothing waits for ever.
  do
    local ctx <close> = p:open_context(M.producer, {3000, "end"})
  end
  do
    local ctx <close> = p:open_context(M.reader)
  end
  print("never opened ok")

  -- Windows are counts: floats with an integer value too (1e9).
  do
    local ctx <close> = p:open_context(M.echo)
    local okf, ef = pcall(ctx.open_stream, ctx, {window = 1.5})
    check(not okf and ef.type == "UsageError"
          and ef.message:find("a window is a count", 1, true), tostring(ef))
    local s <close> = ctx:open_stream({window = 2048.0, window_bytes = 2e6})
    s:send("x")
    check(s:recv() == "x", "a float window")
  end

  -- Closing the stream in its own loop's body ends the loop there.
  do
    local ctx <close> = p:open_context(M.producer, {5, "end"})
    local s <close> = ctx:open_stream()
    local k = 0
    for v in s do
      k = k + 1
      if v == 2 then s:close() end
    end
    check(k == 2, "the loop ended at the close, after " .. k)
    local okr, er = pcall(s.recv, s)
    check(not okr and er.type == "UsageError", "recv after the close")
    check(ctx:result() == 5, "the producer's values past it were dropped")
  end

  -- Misuse.
  do
    local ctx <close>, r = p:open_context(M.too_soon)
    check(r:find("UsageError: open_stream: call ctx:started", 1, true), r)
    local s = ctx:open_stream()
    local okd, e = pcall(ctx.open_stream, ctx)
    check(not okd and e.type == "UsageError", "opened twice")
    ctx:result()
    M.kept = s
  end
  ok, err = pcall(M.kept.recv, M.kept)
  check(not ok and err.type == "UsageError"
        and err.message:find("context has ended", 1, true), tostring(err))
  print("misuse ok")

  check(p:run("echo_plain") == "plain", "still serving")
  p:cancel_actor()
  print("streams ok")
end

function M.echo_plain() return "plain" end

return M
