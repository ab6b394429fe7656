-- usage_errors.lua - every error axle raises to Lua is a table with a
-- type (never a C code's name such as AX_ESTATE), a message that says what
-- was wrong and what to do, and the Lua location of the call. Run as
-- `axle run usage_errors.lua main`; prints one line per case:
-- name, type, and whether the message holds the words expected.
local axle = require "axle"

local M = {}

-- At a module's load no actor function runs, in a child or in the root
-- (whose module loads inside its first call): opening a nursery is
-- refused.
local load_ok, load_err = pcall(axle.open_nursery)

function M.load_outcome()
  return {ok = load_ok, type = load_err and load_err.type,
          message = load_err and load_err.message}
end

function M.hi()
  return "hi"
end

function M.boom7()
  error({code = 7})
end

local function report(name, err, ...)
  local t = type(err) == "table" and err.type or type(err)
  local msg = type(err) == "table" and err.message or tostring(err)
  local has = true
  for _, w in ipairs({...}) do
    if not msg:find(w, 1, true) then has = false end
  end
  print(name, t, has or msg)
end

-- f() must fail; its error is reported with the words expected.
local function check(name, words, f)
  local ok, err = pcall(f)
  if ok then
    print(name, "no error")
  else
    report(name, err, table.unpack(words))
  end
end

function M.main()
  local kept, ok, e
  do
    local n <close> = axle.open_nursery()
    local d = n:start_actor("d")
    kept = d
    check("result on a daemon", {"result() is for one-shot", "'d'",
                                 "cancel_actor()"},
          function() return d:result() end)
    check("bad start_actor name",
          {"usage_errors.lua:", "bad argument #1 to 'Nursery:start_actor'",
           "string expected, got table"},
          function() return n:start_actor({}) end)
    check("method called with a dot", {"with a colon", "obj:start_actor"},
          function() return n.start_actor("x") end)
    check("local function", {"no name another actor can find"},
          function() return d:run(function() end) end)
    check("function as a value", {"cannot send a function"},
          function() return d:run("hi", {f = print}) end)
    check("run with a number", {"'Portal:run'"},
          function() return d:run(5) end)
    check("arguments not a table", {"table of arguments or nil expected"},
          function() return d:run("hi", 42) end)
    check("run option typo", {"unknown option 'modul'", "module"},
          function() return d:run("hi", nil, {modul = "x"}) end)
    check("spawn without a task nursery", {"axle.task_nursery()"},
          function() return axle.spawn(print) end)
    local o = d:run(M.load_outcome)
    report("nursery at load", {type = o.type, message = o.message},
           "needs a running actor", "top level")
    o = M.load_outcome()
    report("nursery at the root's load", {type = o.type, message = o.message},
           "needs a running actor", "top level")

    d:cancel_actor()
    check("run after cancel_actor", {"after cancel_actor()", "'d'"},
          function() return d:run("hi") end)
  end
  check("portal after its nursery", {"nursery is closed", "'d'"},
        function() return kept:run("hi") end)
  check("error table without a message", {'{"code": 7}'}, function()
    local m <close> = axle.open_nursery()
    return m:run_in_actor(M.boom7):result()
  end)
  do
    local tn <close> = axle.task_nursery()
    check("spawn of no function", {"bad argument #1 to 'axle.spawn'"},
          function() return axle.spawn(5) end)
  end
  local function raiser()
    error({code = 1})
  end
  ok, e = pcall(axle.open_nursery, function() raiser() end)
  print("block form traces where it was raised",
        e.traceback:find("raiser", 1, true) ~= nil)
  local late = axle.open_nursery()
  late:cancel()
  check("start in a cancelled nursery", {"usage_errors.lua:",
                                         "the nursery is cancelled"},
        function() return late:start_actor("late") end)
  late:__close()
  -- A body's error leaves the block form as the value it was raised with.
  local t = {code = 7}
  local frozen = setmetatable({}, {
    __index = {type = "ValueError", message = "frozen"},
    __newindex = function() error("read-only error object") end,
  })
  ok, e = pcall(axle.open_nursery, function() error(frozen) end)
  print("block form keeps a read-only table", not ok and rawequal(e, frozen))
  ok, e = pcall(axle.open_nursery, function() error(t) end)
  print("block form keeps a table", not ok and rawequal(e, t))
  ok, e = pcall(axle.open_nursery, function() error("plain", 0) end)
  print("block form keeps a string", not ok and e == "plain")
  print("root's parent", axle.current_actor().parent)
  -- n:close() does what the scope's end does, now.
  do
    local n <close> = axle.open_nursery()
    n:start_actor("closed_early"):cancel_actor()
    n:close()
    ok, e = pcall(n.start_actor, n, "late")
    print("start after n:close()", e.type, not ok)
  end
end

return M
