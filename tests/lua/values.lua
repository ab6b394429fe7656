-- values.lua - Lua values to another actor and back; a portal's fields,
-- and what a wrong call on it raises. Run as `axle run values.lua main`.
local axle = require "axle"

local M = {}

function M.echo(args)
  return args.v
end

-- Results: none is nil, one is itself, several are an array (nils kept).
function M.none() end
function M.several() return 1, nil, "x" end
function M.trailing_nil() return "a", nil end
-- An empty table, which is both, goes as an empty array.
function M.empty() return {} end
function M.empty_inside() return {list = {}, more = {{}}} end
-- How many arguments arrived, and the first one's type.
function M.describe(...) return select("#", ...), type((...)) end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return math.type(a) == math.type(b) and a == b end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function keys(n)
  local t = {}
  for i = 1, n do t["k" .. i] = i end
  return t
end

local function array(n)
  local t = {}
  for i = 1, n do t[i] = i * 3 end
  return t
end

local cases = {
  {"empty", {}},
  {"map15", keys(15)},
  {"map16", keys(16)},
  {"map300", keys(300)},
  {"map70000", keys(70000)},
  {"array20", array(20)},
  {"array70000", array(70000)},
  {"scalars", {1, -1, -33, 200, -200, 2 ^ 40 // 1, math.mininteger,
               math.maxinteger, 1.5, 1.0, -0.25, true, false}},
  {"strings", {a = "x\0y", b = string.rep("z", 100000), c = ""}},
  {"nested", {a = {b = {c = {d = {1, 2, {e = "f"}}}}}}},
  {"mixed keys", {[1] = "one", [3] = "three", x = "x"}},
}

function M.main()
  local n <close> = axle.open_nursery()
  local p = n:start_actor("echo")
  for _, c in ipairs(cases) do
    local back = p:run("echo", {v = c[2]})
    print(c[1], same(c[2], back))
  end
  local r = p:run("several")
  print("several", r[1], r[2], r[3])
  print("none", p:run("none"))
  -- {} as arguments is no named arguments: one empty table.
  r = p:run("describe", {})
  print("{} args", r[1], r[2])
  -- A portal's identity is plain fields.
  print("name", p.name, math.type(p.pid), p.pid > 0, type(p.uid), p.nope)
  -- Arguments must be a table: a clear error, and the actor keeps serving.
  local ok, err = pcall(p.run, p, "echo", 42)
  print("scalar args", ok, tostring(err):find("table of arguments") ~= nil)
  print("still serving", p:run("echo", {v = 1}) == 1)
  -- Not a portal.
  ok, err = pcall(p.run, {}, "echo", {})
  print("not a portal", ok, tostring(err):find("axle.Portal") ~= nil)
  p:cancel_actor()
  M.kept = p
end

function M.after()
  M.main()
  local p = M.kept
  print("after close", p.name)
  local ok, err = pcall(p.run, p, "echo", {})
  print("run after close", ok, tostring(err):find("closed") ~= nil)
end

return M
