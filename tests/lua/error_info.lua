-- error_info.lua - an error's own fields cross to other actors: a table
-- raised with error{...} arrives with its fields (those that can be sent),
-- and a C error's info arrives as fields of the error table. Run by
-- tests/integration/test_lua.c as
--   axle run tests/lua/error_info.lua main testmod=c:... self=lua:...
-- and, as a child, by a C parent that reads ax_error_info.
local axle = require "axle"

local M = {}

function M.raise_code(code)
  error({code = code})
end

function M.raise_seven()
  error({code = 7})
end

-- A value nesting depth levels: 7 in depth - 1 tables.
local function nest(depth)
  if depth <= 1 then return 7 end
  return {nest(depth - 1)}
end

-- With fields that cannot be sent (a function, a cycle, one nested
-- deeper than an error's field may be), which are left out alone.
function M.raise_typed()
  local cycle = {}
  cycle.self = cycle
  error({type = "ValueError", message = "x", code = 7,
         nested = {a = {1, 2, {b = true}}}, deep30 = nest(30),
         deep31 = nest(31), fn = function() end, cycle = cycle,
         [1] = "array part", src = "not the source",
         members = "not the members", relay_path = "not the path"})
end

-- Fail with {code = code} once n siblings have started: each appends a
-- line to the file barrier, then waits (shielded from the cancellation the
-- first failure brings) until n lines are there, so that they all fail.
function M.raise_together(barrier, n, code)
  local f = assert(io.open(barrier, "a"))
  f:write("x\n")
  f:close()
  local s <close> = axle.cancel_scope()
  s:shield(true)
  while true do
    local count = 0
    for _ in io.lines(barrier) do count = count + 1 end
    if count >= n then break end
    axle.sleep(0.01)
  end
  error({code = code})
end

-- A Lua actor in the middle: what it catches and raises again keeps its
-- fields.
function M.middle()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("bottom")
  local ok, err = pcall(p.run, p, M.raise_code, {9})
  p:cancel_actor()
  error(err)
end

local function caught(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return err
end

function M.main(args)
  local n <close> = axle.open_nursery()
  local l = n:start_actor("lchild")

  local err = caught(l.run, l, M.raise_seven)
  print("plain table", err.type, err.code, err.message)

  err = caught(l.run, l, M.raise_typed)
  print("typed", err.type, err.message, err.code, err.nested.a[3].b,
        err.fn, err.cycle, err[1], type(err.src), type(err.members),
        type(err.relay_path), err.src.name)
  print("depth", type(err.deep30), err.deep31)

  err = caught(l.run, l, M.middle)
  print("relayed by Lua", err.code, #err.relay_path)

  local c = n:start_actor("cchild", {module = args.testmod})
  err = caught(c.run, c, "fail_info", {code = 5})
  print("from C", err.type, err.message, err.code, err.detail.where[2],
        err.huge, err[1], type(err.src), err.src.name)

  err = caught(c.run, c, "relay_call",
               {module = args.self, func = "raise_seven"})
  print("relayed by C", err.type, err.code, #err.relay_path)

  -- Too large with its info for the largest message we take (64 MiB by
  -- default): it goes without.
  err = caught(c.run, c, "fail_info", {bytes = 65 << 20})
  print("too large", err.type, err.message, err.code, err.big)

  l:cancel_actor()
  c:cancel_actor()

  -- A group: each member keeps its own fields.
  local barrier = os.tmpname()
  err = caught(axle.open_nursery, function(g)
    g:run_in_actor(M.raise_together, {barrier, 2, 1}, {name = "one"})
    g:run_in_actor(M.raise_together, {barrier, 2, 2}, {name = "two"})
  end)
  os.remove(barrier)
  local codes = {}
  for _, m in ipairs(err.members) do codes[#codes + 1] = m.code end
  table.sort(codes)
  print("group", err.type, err.code, #err.members, table.concat(codes, " "))
end

return M
