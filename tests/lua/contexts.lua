-- contexts.lua - contexts between Lua actors: the callee's started value,
-- its result, errors both ways, cancellation and its ContextCancelled, and
-- misuse. Run by tests/integration/test_lua.c: axle run tests/lua/contexts.lua
local axle = require "axle"

local M = {}

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

-- The callee: started(x + 1), then per mode.
M.serve = axle.context(function(ctx, x, mode)
  if mode == "fail_before" then error("failed before started") end
  if mode == "return_early" then return "early" end
  ctx:started(x + 1)
  if mode == "fail_after" then error({code = 7, message = "failed after"}) end
  if mode == "forever" then axle.sleep(1e9) end
  if mode == "twice" then
    local ok, err = pcall(ctx.started, ctx, 0)
    return ok and "no error" or err.type .. ": " .. err.message
  end
  return x + 2
end)

-- A plain function: started is not for it, and it cannot be opened.
function M.plain() return "plain" end

-- Declared, called plainly: its context object refuses started.
M.declared = axle.context(function(ctx)
  local ok, err = pcall(ctx.started, ctx, 1)
  return ok and "no error" or err.type .. ": " .. err.message
end)

-- Keeps its context object past the call.
local kept
M.keeper = axle.context(function(ctx)
  kept = ctx
  ctx:started(true)
  return "kept"
end)
function M.use_kept()
  local ok, err = pcall(kept.started, kept, 1)
  return ok and "no error" or err.type .. ": " .. err.message
end

local function open(p, mode, x)
  return p:open_context(M.serve, {x or 1, mode})
end

-- A Lua caller and a C callee (testmod's ctx_inc, spec given).
local function c_callee(spec)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("c_callee", {module = spec})
  do
    local ctx <close>, first = p:open_context("ctx_inc", {x = 1, mode = "ok"})
    check(first == 2 and ctx:result() == 3, "C callee")
  end
  local ok, err = pcall(function()
    local ctx <close> = p:open_context("ctx_inc", {x = 1, mode = "fail_after"})
  end)
  check(not ok and err.type == "ValueError", "C callee's error")
  -- A C context function that calls started, opened as a generator: the
  -- refused started is named, not a bare AX_ESTATE.
  ok, err = pcall(function()
    for _ in p:open_stream_from("counter", {n = 2}) do end
  end)
  check(not ok and err.type == "UsageError"
        and err.message:find("generator stream", 1, true),
        "C context function as a generator: " .. tostring(err))
  p:cancel_actor()
  print("C callee ok")
end

function M.main(args)
  if args and args.testmod then c_callee(args.testmod) end
  local n <close> = axle.open_nursery()
  local p = n:start_actor("callee")

  -- started, then the result.
  do
    local ctx <close>, first = open(p, "ok", 5)
    check(first == 6, "first value " .. tostring(first))
    check(ctx:result() == 7, "result")
    local ok, err = pcall(ctx.result, ctx)
    check(not ok and err.type == "UsageError", "result twice")
  end
  print("started and result ok")

  -- Errors before started fail the open; a return before it is misuse.
  local ok, err = pcall(open, p, "fail_before")
  check(not ok and err.type == "LuaError"
        and err.message:find("failed before started", 1, true), "fail_before")
  ok, err = pcall(open, p, "return_early")
  check(not ok and err.type == "UsageError"
        and err.message:find("returned without calling started", 1, true),
        "return_early: " .. tostring(err))
  print("open failures ok")

  -- An error after started ends the block with it, its fields kept.
  ok, err = pcall(function()
    local ctx <close>, first = open(p, "fail_after", 1)
    check(first == 2, "first before failing")
  end)
  check(not ok and err.code == 7, "fail_after: " .. tostring(err))
  print("callee error ok")

  -- An error in the caller's block cancels the callee; the block's own
  -- error goes on, the callee's ContextCancelled is absorbed.
  ok, err = pcall(function()
    local ctx <close> = open(p, "forever")
    error("caller failed")
  end)
  check(not ok and tostring(err):find("caller failed", 1, true),
        "caller error: " .. tostring(err))
  print("caller error ok")

  -- ctx:cancel(): result() raises ContextCancelled naming us; closing
  -- absorbs it.
  do
    local ctx <close> = open(p, "forever")
    ctx:cancel()
    local okr, e = pcall(ctx.result, ctx)
    check(not okr and e.type == "ContextCancelled", "cancel: " .. tostring(e))
    check(e.canceller.name == axle.current_actor().name
          and e.canceller.uid == axle.current_actor().uid, "canceller")
  end
  print("cancel ok")

  -- Misuse: started twice, started in a plain call, opening a function
  -- that is no context, a context object used after its call.
  do
    local ctx <close> = open(p, "twice")
    local r = ctx:result()
    check(r:find("UsageError: started: called twice", 1, true), r)
  end
  local r = p:run(M.declared)
  check(r:find("is not a context", 1, true), r)
  ok, err = pcall(p.open_context, p, M.plain)
  check(not ok and err.type == "UsageError"
        and err.message:find("declare it with axle.context", 1, true),
        "plain: " .. tostring(err))
  do
    local ctx <close> = p:open_context(M.keeper)
    check(ctx:result() == "kept", "keeper")
  end
  r = p:run(M.use_kept)
  check(r:find("has ended", 1, true), r)
  print("misuse ok")

  -- Closing while another task waits for the result: that wait ends
  -- (Cancelled), the close does not fail, and nothing leaks.
  do
    local tn <close> = axle.task_nursery()
    local waiter
    do
      local ctx <close> = open(p, "forever")
      waiter = tn:spawn(function() return pcall(ctx.result, ctx) end)
      axle.sleep(0) -- the task starts waiting
      ctx:cancel()
    end
    local okw, e = waiter:join()
    check(not okw and e.type == "Cancelled", "the waiting task: " .. tostring(e))
  end
  print("close while waiting ok")

  -- The actor served on through all of it.
  check(p:run(M.plain) == "plain", "still serving")
  p:cancel_actor()
  print("contexts ok")
end

return M
