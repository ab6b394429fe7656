-- The Lua module "axle", built against an installed libaxle:
--   luarocks --lua-version=5.4 make AXLE_DIR=/usr/local  (or --tree DIR)
-- libaxle (cmake --install, or the .deb) comes first: it carries the
-- runtime, and the host that starts child actors.
rockspec_format = "3.0"
package = "axle"
version = "scm-1"
source = {
  url = "git+file:///dev/null",
}
description = {
  summary = "Structured-concurrency actors for Lua: each actor a process",
  detailed = [[
Actors are OS processes in a supervision tree: a parent starts children
in a nursery and no child outlives it; errors travel up, cancellation
travels down; actors call each other through portals.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  AXLE = { header = "axle.h", library = "axle" },
}
build = {
  type = "builtin",
  modules = {
    axle = {
      sources = {
        "bindings/lua/actor.c",
        "bindings/lua/axle.c",
        "bindings/lua/context.c",
        "bindings/lua/error.c",
        "bindings/lua/interrupt.c",
        "bindings/lua/loader.c",
        "bindings/lua/nursery.c",
        "bindings/lua/portal.c",
        "bindings/lua/root.c",
        "bindings/lua/scope.c",
        "bindings/lua/stream.c",
        "bindings/lua/task.c",
        "bindings/lua/value.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "$(AXLE_INCDIR)" },
      libdirs = { "$(AXLE_LIBDIR)" },
      libraries = { "axle" },
    },
  },
}
