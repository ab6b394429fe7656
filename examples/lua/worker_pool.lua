-- worker_pool.lua - tractor's concurrent primes: a pool of one actor per
-- CPU checks large numbers for primality, calls spread over the pool from
-- concurrent tasks; the answers are checked against a serial run.
--
-- Run:    axle run examples/lua/worker_pool.lua
--     or: lua5.4 examples/lua/worker_pool.lua  (with axle.so on LUA_CPATH)
-- Prints: one "<number> is prime: <bool>" line per number, then
--         "all answers match the serial computation"
local axle = require "axle"

local M = {}

M.PRIMES = {
  112272535095293, 112582705942171, 112272535095293,
  115280095190773, 115797848077099, 1099726899285419,
}

function M.is_prime(n)
  if n < 2 then return false end
  if n % 2 == 0 then return n == 2 end
  if n % 3 == 0 then return n == 3 end
  local i = 5
  while i * i <= n do
    if n % i == 0 or n % (i + 2) == 0 then return false end
    i = i + 6
  end
  return true
end

function M.main()
  local results = {}
  do
    local n <close> = axle.open_nursery()
    local workers = {}
    for i = 1, axle.cpu_count() do
      workers[i] = n:start_actor("worker_" .. i)
    end
    do
      local tasks <close> = axle.task_nursery()
      for i, number in ipairs(M.PRIMES) do
        local w = workers[(i - 1) % #workers + 1]
        tasks:spawn(function()
          results[i] = w:run(M.is_prime, {number})
        end)
      end
    end
    n:cancel()
  end
  for i, number in ipairs(M.PRIMES) do
    print(("%d is prime: %s"):format(number, tostring(results[i])))
    assert(results[i] == M.is_prime(number), "pool and serial disagree")
  end
  print("all answers match the serial computation")
end

-- Run as the root by lua5.4; does nothing under axle run or in a child.
axle.run(M.main, M)
return M
