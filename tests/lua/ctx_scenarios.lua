-- ctx_scenarios.lua - tractor's context and stream semantics, every
-- combination of who errors or cancels (nobody, the caller, the callee)
-- x whether the stream is opened x whether the callee returns early.
-- Each case checks how the caller's block ends and that the actor serves
-- on; one line per case. Run by tests/integration/test_lua.c:
-- axle run tests/lua/ctx_scenarios.lua
local axle = require "axle"

local M = {}

-- The callee: started, then per case: return at once ("early"), or with
-- the stream open send two values and take the caller's until its stop.
M.callee = axle.context(function(ctx, who, stream, early)
  ctx:started("up")
  local function fail()
    if who == "callee_error" then error("callee failed") end
    if who == "callee_cancel" then
      ctx:cancel()
      axle.sleep(0) -- the next blocking call raises
    end
  end
  if early then
    fail()
    return "early"
  end
  local taken = 0
  if stream then
    local s <close> = ctx:open_stream()
    s:send(1)
    s:send(2)
    fail()
    for _ in s do taken = taken + 1 end
  else
    fail()
    -- Until the caller cancels (an error of its block does too).
    if who == "caller_cancel" or who == "caller_error" then axle.sleep(1e9) end
  end
  return taken
end)

function M.ping() return "pong" end

-- Sends back what it takes, until the caller's stop.
M.echo = axle.context(function(ctx)
  ctx:started()
  local s <close> = ctx:open_stream()
  for v in s do s:send(v) end
  return "echoed"
end)

-- Takes the caller's values until its stop, shielded from cancels (a
-- teardown that must block), and returns how many.
M.drainer = axle.context(function(ctx)
  ctx:started()
  local s <close> = ctx:open_stream()
  local sc <close> = axle.cancel_scope()
  sc:shield(true)
  local k = 0
  for _ in s do k = k + 1 end
  return k
end)

-- Sends n values and returns, whether or not anybody takes them.
M.sender = axle.context(function(ctx, n)
  ctx:started(axle.current_actor().pid)
  local s <close> = ctx:open_stream()
  for i = 1, n do s:send(i) end
  return "sent " .. n
end)

-- A producer that records how it ended in the file at path.
function M.marked_producer(path)
  local guard <close> = setmetatable({}, {__close = function(_, err)
    local f = assert(io.open(path, "w"))
    f:write(type(err) == "table" and err.type or tostring(err))
    f:close()
  end})
  local i = 0
  while true do
    i = i + 1
    axle.yield(i)
  end
end

-- A consumer actor: streams from a producer child of its own, and tells
-- its caller (started) once it is mid-stream; then goes on until it is
-- cancelled.
M.consumer = axle.context(function(ctx, path)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("producer")
  for v in p:open_stream_from(M.marked_producer, {path}) do
    if v == 10 then ctx:started("mid-stream") end
  end
end)

-- The other scenarios: a caller that never opens its stream; the
-- producer killed with SIGKILL or terminated by SIGTERM mid-stream.
local function more(n)
  do
    local p = n:start_actor("sender")
    local ctx <close> = p:open_context(M.sender, {1000})
    -- 1,000 values fit the default window: the sender is not held up.
    assert(ctx:result() == "sent 1000", "sent without a reader")
    p:cancel_actor()
  end
  print("never opened ok")
  -- Another task closes the stream: a task waiting to receive ends its
  -- loop, one waiting for credit gets an error; neither dies unsaid.
  do
    local p = n:start_actor("echo")
    local got, reader_ended, sent, send_err
    do
      local ctx <close> = p:open_context(M.echo)
      local s <close> = ctx:open_stream()
      local tn <close> = axle.task_nursery()
      tn:spawn(function()
        for v in s do got = v end
        reader_ended = true
      end)
      s:send(1)
      while got ~= 1 do axle.sleep(0) end -- the reader waits again now
      s:close()
    end
    assert(reader_ended, "the reader's loop did not end")
    do
      -- This callee never reads: a sender waits at the end of its window.
      local ctx <close> = p:open_context(M.callee, {"caller_cancel"})
      local s <close> = ctx:open_stream()
      local tn <close> = axle.task_nursery()
      tn:spawn(function()
        sent = 0
        local ok, err = pcall(function()
          for i = 1, 2000 do
            s:send(i)
            sent = i
          end
        end)
        send_err = not ok and err
      end)
      while sent ~= 1024 do axle.sleep(0) end
      -- A second sender is told that one is waiting already.
      local ok2, err2 = pcall(s.send, s, "x")
      assert(not ok2 and err2.type == "UsageError" and
             err2.message:find("another task is sending", 1, true),
             tostring(err2))
      s:close()
      ctx:cancel() -- it would sleep on
    end
    assert(sent == 1024, "sent " .. tostring(sent))
    assert(type(send_err) == "table" and send_err.type == "UsageError" and
           send_err.message:find("closed"), tostring(send_err))
    -- A block that fails while another task reads: that reader is cut
    -- off (Cancelled), its truncated stream never looks complete.
    local reader_ok, reader_err
    got = nil
    local tn <close> = axle.task_nursery()
    local ok, err = pcall(function()
      local ctx <close> = p:open_context(M.sender, {1e9})
      local s = ctx:open_stream()
      tn:spawn(function()
        reader_ok, reader_err = pcall(function()
          for v in s do got = v end
        end)
      end)
      while not got do axle.sleep(0) end
      error({type = "BlockFailed"})
    end)
    assert(not ok and err.type == "BlockFailed", tostring(err))
    while reader_ok == nil do axle.sleep(0) end
    assert(not reader_ok and reader_err.type == "Cancelled",
           "the reader ended by: " .. tostring(reader_err or "a clean end"))
    p:cancel_actor()
  end
  print("closed by another task ok")
  -- A cancel this side asked for: the stream ends cleanly (absorbed), and
  -- a stop sent right after it does not let the callee end cleanly first.
  do
    local p = n:start_actor("echo")
    local ok, err = pcall(function()
      local ctx <close> = p:open_context(M.echo)
      local s <close> = ctx:open_stream()
      s:send(1)
      assert(s:recv() == 1)
      ctx:cancel()
      for _ in s do error("a value after the cancel") end
      assert(s:recv() == nil)
      local rok, rerr = pcall(ctx.result, ctx)
      assert(not rok and rerr.type == "ContextCancelled", tostring(rerr))
    end)
    assert(ok, tostring(err))
    -- Its stream opened only after the end: absorbed all the same.
    ok, err = pcall(function()
      local ctx <close> = p:open_context(M.echo)
      ctx:cancel()
      local rok, rerr = pcall(ctx.result, ctx)
      assert(not rok and rerr.type == "ContextCancelled", tostring(rerr))
      local s <close> = ctx:open_stream()
      for _ in s do error("a value after the end") end
    end)
    assert(ok, "a stream opened after the end: " .. tostring(err))
    -- A callee that drains shielded still gets the stop that follows
    -- the cancel, and ends.
    ok, err = pcall(axle.fail_after, 30, function()
      local ctx <close> = p:open_context(M.drainer)
      local s <close> = ctx:open_stream()
      s:send(1)
      ctx:cancel()
    end)
    assert(ok, "a shielded drain after the cancel: " .. tostring(err))
    for _ = 1, 20 do
      ok, err = pcall(function()
        local ctx <close> = p:open_context(M.echo)
        do
          local s <close> = ctx:open_stream()
          s:send(1)
          assert(s:recv() == 1)
          ctx:cancel()
        end -- closing the stream here sent a stop behind the cancel
        local rok, rerr = pcall(ctx.result, ctx)
        assert(not rok and rerr.type == "ContextCancelled",
               "the callee ended by: " .. tostring(rerr or "its return"))
      end)
      assert(ok, tostring(err))
    end
    p:cancel_actor()
  end
  print("own cancel on a stream ok")
  -- A consumer actor cancelled mid-stream: its producer is cancelled too
  -- (it has unwound by the time the consumer has exited).
  do
    local path = os.tmpname()
    local c = n:start_actor("consumer")
    local ok, err = pcall(function()
      local ctx <close>, state = c:open_context(M.consumer, {path})
      assert(state == "mid-stream")
      c:cancel_actor()
    end)
    assert(not ok and err.type == "ContextCancelled", tostring(err))
    local f = assert(io.open(path))
    local how = f:read("a")
    f:close()
    os.remove(path)
    assert(how == "Cancelled", "the producer ended by: " .. how)
    print("consumer cancelled: producer " .. how)
  end
  for _, sig in ipairs({"KILL", "TERM"}) do
    -- A nursery of its own: a daemon that dies unasked fails its nursery
    -- too, after the stream's loop has ended with the error.
    local err
    pcall(function()
      local n2 <close> = axle.open_nursery()
      local p = n2:start_actor("producer")
      local ok
      ok, err = pcall(function()
        local ctx <close>, pid = p:open_context(M.sender, {1e9})
        local s <close> = ctx:open_stream()
        for v in s do
          if v == 100 then os.execute("kill -" .. sig .. " " .. pid) end
        end
      end)
      assert(not ok, "the loop ended cleanly")
    end)
    local want = sig == "KILL" and "ActorCrashed" or "ContextCancelled"
    assert(type(err) == "table" and err.type == want,
           sig .. ": " .. tostring(err))
    if sig == "TERM" then
      assert(err.canceller.name == "producer", "canceller " .. tostring(err))
    end
    print("SIG" .. sig .. " mid-stream: " .. err.type)
  end
end

-- One case: how the caller's block ended ("ok RESULT" or "error TYPE").
local function run_case(p, who, stream, early)
  local result
  local ok, err = pcall(function()
    local ctx <close>, first = p:open_context(M.callee, {who, stream, early})
    assert(first == "up")
    if stream and not early then
      local s <close> = ctx:open_stream()
      assert(s:recv() == 1)
      if who == "caller_error" then error({type = "CallerError"}) end
      if who == "caller_cancel" then
        ctx:cancel()
        return
      end
      assert(s:recv() == 2)
      s:send("x")
    else
      if who == "caller_error" then error({type = "CallerError"}) end
      if who == "caller_cancel" then
        ctx:cancel()
        return
      end
    end
    if stream and not early and (who == "none") then
      -- Our stream closes here, ending the callee's loop.
    end
    if who ~= "caller_cancel" and early then result = ctx:result() end
  end)
  if ok then return "ok " .. tostring(result) end
  return "error " .. (type(err) == "table" and err.type or tostring(err))
end

-- What each case must give.
local function expected(who, stream, early)
  if who == "caller_error" then return "error CallerError" end
  if who == "callee_error" then return "error LuaError" end
  if who == "callee_cancel" then return "error ContextCancelled" end
  if early and who == "none" then return "ok early" end
  return "ok nil" -- none, caller_cancel: the block ends cleanly
end

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("callee")
  local failed = 0
  for _, who in ipairs({"none", "caller_error", "callee_error",
                        "caller_cancel", "callee_cancel"}) do
    for _, stream in ipairs({false, true}) do
      for _, early in ipairs({false, true}) do
        local got = run_case(p, who, stream, early)
        local want = expected(who, stream, early)
        local mark = got == want and "ok" or "FAILED (want " .. want .. ")"
        if got ~= want then failed = failed + 1 end
        print(string.format("%-13s stream=%-5s early=%-5s %s %s", who,
                            tostring(stream), tostring(early), got, mark))
        assert(p:run(M.ping) == "pong", "the actor serves on")
      end
    end
  end
  p:cancel_actor()
  more(n)
  print(failed == 0 and "all scenarios ok" or failed .. " scenarios failed")
end

return M
