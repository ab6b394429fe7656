-- load_loop.lua - a module whose chunk never ends: loading it must still
-- give way to SIGINT and SIGTERM. It says its pid first, so that the
-- test knows whom to signal and when.
local axle = require "axle"

io.stdout:write("looping ", axle.current_actor().pid, "\n")
io.stdout:flush()
local x = 0
while true do x = x + 1 end
