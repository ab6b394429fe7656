-- generators.lua - one-way streams from generators: axle.yield and
-- returned iterators, a loop left by break cancelling the producer, a
-- producer's error ending the loop, misuse.
-- Run by tests/integration/test_lua.c: axle run tests/lua/generators.lua
local axle = require "axle"

local M = {}

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

function M.count(n)
  for i = 1, n do axle.yield(i) end
end

function M.iter(n)
  local i = 0
  return function()
    i = i + 1
    if i <= n then return i * 10 end
  end
end

M.unwound = false
function M.forever()
  local guard <close> = setmetatable({}, {__close = function()
    M.unwound = true
  end})
  local i = 0
  while true do
    i = i + 1
    axle.yield(i)
  end
end
function M.was_unwound() return M.unwound end

function M.failing(n)
  for i = 1, n do axle.yield(i) end
  error({code = 5, message = "generator failed"})
end

function M.yield_outside() 
  local ok, err = pcall(axle.yield, 1)
  return ok and "no error" or err.type
end

-- Yields a value over the maximum message size: refused, then catches
-- that and yields its error's type.
function M.too_large()
  local ok, err = pcall(axle.yield, string.rep("z", 65 << 20))
  axle.yield(not ok and err.type)
  axle.yield(err.message:find("axle.yield: a value of", 1, true) ~= nil)
end

-- A context function, not a generator.
M.declared = axle.context(function(ctx)
  ctx:started()
  axle.yield(1)
end)

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("gen")

  local got = {}
  for v in p:open_stream_from(M.count, {5}) do got[#got + 1] = v end
  check(#got == 5 and got[5] == 5, "yield: " .. #got)
  print("yield ok")

  got = {}
  for v in p:open_stream_from(M.iter, {3}) do got[#got + 1] = v end
  check(#got == 3 and got[3] == 30, "iterator")
  print("iterator ok")

  local k = 0
  for v in p:open_stream_from(M.forever) do
    k = v
    if v == 5 then break end
  end
  check(k == 5, "break at 5")
  check(p:run(M.was_unwound) == true, "the producer was cancelled")
  print("break ok")

  local ok, err = pcall(function()
    for _ in p:open_stream_from(M.failing, {3}) do end
  end)
  check(not ok and err.code == 5, "producer error: " .. tostring(err))
  got = {}
  for v in p:open_stream_from(M.too_large) do got[#got + 1] = v end
  check(got[1] == "MessageTooLarge" and got[2] == true, "too large")
  print("error ok")

  check(p:run(M.yield_outside) == "UsageError", "yield outside")
  -- A context function is no generator: said up front, not by a
  -- started called twice.
  ok, err = pcall(function()
    for _ in p:open_stream_from(M.declared) do end
  end)
  check(not ok and err.type == "UsageError"
        and err.message:find("declared with axle.context", 1, true),
        "a context function as a generator: " .. tostring(err))
  ok, err = pcall(axle.context, 42)
  check(not ok and type(err) == "table" and err.type == "UsageError",
        "axle.context(42): " .. tostring(err))
  ok, err = pcall(axle.yield, 1)
  check(not ok and err.type == "UsageError", "yield in main")
  print("misuse ok")
  p:cancel_actor()
  print("generators ok")
end

return M
