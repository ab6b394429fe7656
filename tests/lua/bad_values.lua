-- bad_values.lua - values that cannot cross, both ways, and what each
-- side is told: a cyclic or too deep table, a function, a map key no Lua
-- table can hold (from a C actor that returns any msgpack bytes). Every
-- such call ends with a clear error, and both actors go on serving. Run
-- as `axle run bad_values.lua main rawvalue=c:path/rawvalue.so`; the C
-- tests also call its functions from C.
local axle = require "axle"

local M = {}

function M.echo(args)
  return args.v
end

-- How many arguments arrived.
function M.count(...)
  return select("#", ...)
end

local function nest(depth)
  local t = {}
  for _ = 1, depth do t = {t} end
  return t
end

local function cyclic()
  local a = {b = {c = {}}}
  a.b.c.back = a
  return a
end

function M.returns(args)
  if args.kind == "cyclic" then return cyclic() end
  if args.kind == "deep" then return nest(40) end
  if args.kind == "function" then return {f = print} end
  return "fine"
end

-- pcall's outcome is a failure whose error (a string, or an error value
-- of type etype) mentions word.
local function refused(word, etype, ok, err)
  if ok then return false end
  if etype and (type(err) ~= "table" or err.type ~= etype) then
    return false
  end
  local msg = type(err) == "table" and err.message or tostring(err)
  return msg:find(word, 1, true) ~= nil
end

function M.main(args)
  local n <close> = axle.open_nursery()
  local p = n:start_actor("lua")
  local c = n:start_actor("c", {module = args.rawvalue})

  local self = {}
  self.me = self
  local function to_lua(word, etype, fn, v)
    return refused(word, etype, pcall(p.run, p, fn, v))
  end
  print("cyclic args", to_lua("cyclic table", nil, "echo", {v = self}))
  print("longer cycle", to_lua("cyclic table", nil, "echo", {v = cyclic()}))
  print("deep args", to_lua("deeper than 32", nil, "echo", {v = nest(40)}))
  -- The limit counts levels as the runtime does: {v = nest(30)} is 32
  -- levels and crosses; one more is refused at the sender, by name.
  print("32 levels", type(p:run("echo", {v = nest(30)})) == "table",
        to_lua("deeper than 32", nil, "echo", {v = nest(31)}))
  print("cyclic result",
        to_lua("cyclic table", "TypeError", "returns", {kind = "cyclic"}))
  print("deep result",
        to_lua("deeper than 32", "TypeError", "returns", {kind = "deep"}))
  print("function result", to_lua("cannot send a function", "TypeError",
                                  "returns", {kind = "function"}))

  local function from_c(word, bytes)
    return refused(word, "TypeError",
                   pcall(c.run, c, "decode", {bytes = bytes}))
  end
  local nan = "\xcb\x7f\xf8\0\0\0\0\0\0"
  print("NaN key result", from_c("NaN", "\x81" .. nan .. "\x01"))
  print("nil key result", from_c("nil", "\x81\xc0\x01"))
  print("deeper NaN key result",
        from_c("NaN", "\x82\xa1a\x01\xa1v\x91\x81" .. nan .. "\x01"))
  -- Above math.maxinteger no Lua integer holds it: refused, not clamped.
  print("uint64 result", from_c("does not fit", "\xcf" .. ("\xff"):rep(8)),
        c:run("decode", {bytes = "\xcf\x7f" .. ("\xff"):rep(7)})
          == math.maxinteger)

  print("still serving", p:run("echo", {v = 1}) == 1,
        p:run("returns", {}) == "fine",
        c:run("decode", {bytes = "\x81\xa1k\x2a"}).k == 42)

  -- No arguments are none at all, not an empty table.
  print("no args", p:run(M.count), p:run("count", {1, 2}),
        n:run_in_actor(M.count):result())
  p:cancel_actor()
  c:cancel_actor()
end

return M
