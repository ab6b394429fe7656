#!/usr/bin/python3
"""run_blocks.py - run every fenced code block of Markdown documents.

The documents tell the truth only if what they show works, so every code
block of README.md and docs/lua.md is run by this script (ctest: docs.*,
under the plain and the ASan build alike). Each document gets a scratch
folder, BUILD/docs-blocks/NAME, that looks like the source tree: a link to
each top-level entry of the source, and `build` linked to the build being
tested. Blocks run in it, one after another, as a reader would run them
from the top of a checkout; files a block saves stay there for the blocks
after it.

How each block is run, by the first word of its info string:

  lua      Saved as a script and run: by the stock `lua5.4 FILE` (with
           LUA_CPATH reaching the built binding) when it calls axle.run,
           else by `build/host/axle run FILE` (its function main).
  c        Compiled (compile only) against abi/axle.h with the project's
           warnings as errors: a C sample compiles as written. To run one,
           save it with file= and build and run it in a sh block, as a
           reader would.
  sh       Each line is one command (a line ending in a backslash goes on
           to the next), run by `sh -c`; a multi-line construct belongs in
           a script file. A line must exit 0 unless its comment says
           "exits N".
  console  Lines starting with "$ " are commands, run as sh lines are; the
           lines after one, up to the next prompt, are its output.
  text     Not code. One right after a block that runs (blank lines
           between at most) is that block's expected output.
Any other block is an error unless annotated skip.

Expected output. A comment `--> TEXT` ends a line of a lua block (Lua
reads `-->` as a comment) or of a sh line's comment (`# --> TEXT`): TEXT
is a whole line of the output, and such lines appear in the order of the
comments. A text block after a block is a run of consecutive lines of its
output. In both, "..." stands for any text within a line, and a line that
is only "..." for any number of lines. Output is stdout and stderr
together.

Annotations are HTML comments right before a block, invisible once the
Markdown is rendered, with shell-quoted key=value words:

  <!-- test: skip="why it is not run" -->
  <!-- test: file=demo.c -->      save the block as that file, for later
                                  blocks (a lua block saved so is only
                                  checked by luac, not run)
  <!-- test: status=1 -->         the exit status a lua block must have
  <!-- test: expect="a line" -->  a line its output must have (repeatable)
  <!-- test: timeout=20 -->       seconds before it counts as hung (120)
  <!-- test: fail="words" -->     the runner's own test: this block must
                                  fail, with words in the failure

Every command runs in a session of its own, with stdin from /dev/null and
an environment without AXLE_* and LUA_* variables (the documents say what
to set), tagged with AXLE_TEST_TAG as the integration tests tag theirs:
once it has exited, no process carrying its tag may be left running.
A failure names the file and line of its block. Prints
"N passed, N failed, N skipped" last and exits 1 if anything failed.

Usage: run_blocks.py --source DIR --build DIR [--cc CC]
                     [--lua-preload LIBS] FILE.md...
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CFLAGS = ["-std=c11", "-pedantic", "-Wall", "-Wextra", "-Wshadow",
          "-Wstrict-prototypes", "-Wmissing-prototypes", "-Werror", "-fPIC"]
KEYS = {"skip", "file", "status", "expect", "timeout", "fail"}


class Failure(Exception):
    pass


class Block:
    def __init__(self, path, line, lang, text, ann):
        self.path, self.line, self.lang = path, line, lang
        self.text, self.ann = text, ann
        self.output = None  # the text block that follows, if any


def parse_annotation(body, where):
    ann = {"expect": []}
    try:
        words = shlex.split(body)
    except ValueError as e:
        raise Failure(f"{where}: bad annotation: {e}")
    for w in words:
        key, eq, value = w.partition("=")
        if key not in KEYS or not eq:
            raise Failure(f"{where}: bad annotation word {w!r}: want "
                          f"key=value, key one of {sorted(KEYS)}")
        if key == "expect":
            ann["expect"].append(value)
        elif key in ("status", "timeout"):
            try:
                ann[key] = int(value)
            except ValueError:
                raise Failure(f"{where}: {key} wants an integer: {w!r}")
        else:
            ann[key] = value
    return ann


ANNOTATION = re.compile(r"^\s*<!--\s*test:(.*?)-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)(.*)$")


def parse(path, rel):
    """The fenced blocks of a Markdown file, with their annotations."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, pending, pending_line = [], None, 0
    last = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = ANNOTATION.match(line)
        if m:
            ann = parse_annotation(m.group(1), f"{rel}:{i + 1}")
            if pending:
                ann["expect"] = pending["expect"] + ann["expect"]
                pending.update(ann)
            else:
                pending, pending_line = ann, i + 1
            i += 1
            continue
        m = FENCE.match(line)
        if not m:
            if line.strip():
                if pending:
                    raise Failure(f"{rel}:{pending_line}: annotation not "
                                  "followed by a code block")
                last = None
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3)
        start, body = i + 1, []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if (close.startswith(fence) and not close.strip(fence[0])):
                break
            text = lines[i]
            # Content is indented as its fence; drop as much.
            body.append(text[min(indent, len(text) - len(text.lstrip())):])
            i += 1
        else:
            raise Failure(f"{rel}:{start}: code block never closed")
        i += 1
        b = Block(rel, start, lang.lower(),
                  "\n".join(body) + "\n", pending or {"expect": []})
        pending = None
        if b.lang == "text" and last is not None and "skip" not in b.ann:
            last.output = b
            last = None
            continue
        blocks.append(b)
        runs = b.lang in ("lua", "sh", "console") and "file" not in b.ann
        last = b if runs else None
    if pending:
        raise Failure(f"{rel}:{pending_line}: annotation not followed by "
                      "a code block")
    return blocks


# ------------------------------------------------------------ output


def line_regex(line):
    return ".*".join(re.escape(part) for part in line.split("..."))


def check_markers(markers, out):
    """Each marker is a whole line of out, in order."""
    lines, pos = out.split("\n"), 0
    for want in markers:
        rx = re.compile(line_regex(want.strip()))
        for j in range(pos, len(lines)):
            if rx.fullmatch(lines[j].strip()):
                pos = j + 1
                break
        else:
            raise Failure(f"line {want!r} not in the output (in order)")


def check_text(expected, out):
    """expected is a run of consecutive lines of out."""
    parts = []
    for line in expected.rstrip("\n").split("\n"):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("^" + line_regex(line.rstrip()) + r"[ \t]*\n")
    if not re.search("".join(parts), out if out.endswith("\n") else
                     out + "\n", re.M):
        raise Failure(f"output does not match the text block:\n{expected}")


# --------------------------------------------------------- processes


def tagged(tag, sid=None):
    """Live processes (not zombies) whose environment carries tag, or that
    are in session sid. The session catches a process caught in exec, whose
    environment cannot be read for a moment."""
    want = f"AXLE_TEST_TAG={tag}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            state, session = fields[0], int(fields[3])
            if session != sid:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if want not in f.read().split(b"\0"):
                        continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state not in "ZX":
            found.append(f"{d} {cmd.strip()}")
    return found


def kill_tagged(tag, sid=None):
    for p in tagged(tag, sid):
        try:
            os.kill(int(p.split()[0]), signal.SIGKILL)
        except OSError:
            pass


class Runner:
    def __init__(self, args):
        self.source = os.path.abspath(args.source)
        self.build = os.path.abspath(args.build)
        self.cc = args.cc
        self.preload = args.lua_preload.strip()
        self.count = 0
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AXLE_", "LUA_"))}

    def scratch(self, rel):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", rel)
        d = os.path.join(self.build, "docs-blocks", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for e in os.listdir(self.source):
            if not e.startswith(("build", ".git")):
                os.symlink(os.path.join(self.source, e), os.path.join(d, e))
        os.symlink(self.build, os.path.join(d, "build"))
        if self.preload:
            # An uninstrumented lua5.4 loading the sanitized binding needs
            # the sanitizer runtimes loaded first.
            os.makedirs(os.path.join(d, ".bin"))
            shim = os.path.join(d, ".bin", "lua5.4")
            with open(shim, "w") as f:
                f.write("#!/bin/sh\nLD_PRELOAD=%s exec /usr/bin/lua5.4 "
                        '"$@"\n' % shlex.quote(self.preload))
            os.chmod(shim, 0o755)
        return d

    def run(self, argv, cwd, timeout, extra_env=None):
        """Run argv; returns (status, output). Fails on a hang or on a
        process left running."""
        self.count += 1
        tag = f"docs-{os.getpid()}-{self.count}-{time.monotonic_ns()}"
        env = dict(self.env, AXLE_TEST_TAG=tag, **(extra_env or {}))
        if self.preload:
            env["PATH"] = os.path.join(cwd, ".bin") + ":" + env["PATH"]
        # A file, not a pipe: a process left behind must not hold up the
        # reading of the output.
        with tempfile.TemporaryFile() as out:
            p = subprocess.Popen(argv, cwd=cwd, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                status = p.wait(timeout=timeout)
                hung = False
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                status, hung = p.wait(), True
            out.seek(0)
            text = out.read().decode(errors="replace")
        if hung:
            kill_tagged(tag, p.pid)
            raise Failure(f"hung: still running after {timeout} s; "
                          f"output:\n{text}")
        left = tagged(tag, p.pid)
        end = time.monotonic() + 5
        while left and time.monotonic() < end:
            time.sleep(0.05)
            left = tagged(tag, p.pid)
        if left:
            kill_tagged(tag, p.pid)
            raise Failure("left processes running:\n  " + "\n  ".join(left)
                          + f"\noutput:\n{text}")
        if status < 0:
            status = 128 - status
        return status, text

    # ------------------------------------------------------ block kinds

    def block_lua(self, b, cwd):
        if "file" in b.ann:
            path = self.save(b, cwd)
            st, out = self.run(["luac5.4", "-p", path], cwd, 30)
            if st != 0:
                raise Failure(f"does not compile:\n{out}")
            return
        path = self.save(b, cwd, f"block{b.line}.lua")
        if re.search(r"\baxle\.run\s*\(", b.text):
            argv, env = ["lua5.4", path], {
                "LUA_CPATH": "build/bindings/lua/?.so;;"}
        else:
            argv, env = ["build/host/axle", "run", path], None
        st, out = self.run(argv, cwd, b.ann.get("timeout", 120), env)
        want = b.ann.get("status", 0)
        if st != want:
            raise Failure(f"exit status {st}, want {want}; output:\n{out}")
        markers = [m.group(1) for m in
                   re.finditer(r"(?:^|\s)-->[ \t]?(.*)$", b.text, re.M)]
        self.check_output(b, markers, out)

    def block_c(self, b, cwd):
        path = self.save(b, cwd, b.ann.get("file", f"block{b.line}.c"))
        argv = [self.cc, *CFLAGS, "-I", os.path.join(self.source, "abi"),
                "-c", path, "-o", os.devnull]
        st, out = self.run(argv, cwd, 120)
        if st != 0:
            raise Failure(f"does not compile:\n{out}")

    def block_sh(self, b, cwd):
        for line, cmd in sh_commands(b.text):
            self.command(b, line, cmd, cwd, None)

    def block_console(self, b, cwd):
        cmd, line, output = None, 0, []
        lines = b.text.rstrip("\n").split("\n")
        for j, text in enumerate(lines + ["$ "]):
            if text.startswith("$ ") or text == "$":
                if cmd is not None:
                    self.command(b, line, cmd, cwd, "\n".join(output))
                cmd, line, output = text[2:], j, []
            elif cmd is None:
                raise Failure(f"line {j + 1}: output before any command")
            else:
                output.append(text)

    def command(self, b, line, cmd, cwd, expected):
        comment = sh_comment(cmd)
        m = re.search(r"\bexits (\d+)", comment)
        want = int(m.group(1)) if m else 0
        try:
            st, out = self.run(["sh", "-c", cmd], cwd,
                               b.ann.get("timeout", 120))
            if st != want:
                raise Failure(f"exit status {st}, want {want}; "
                              f"output:\n{out}")
            m = re.search(r"-->[ \t]?(.*)$", comment)
            check_markers([m.group(1)] if m else [], out)
            if expected is not None and expected.strip():
                check_text(expected + "\n", out)
        except Failure as e:
            raise Failure(f"`{cmd.strip()}` (block line {line + 1}): {e}")

    def check_output(self, b, markers, out):
        check_markers(markers + b.ann["expect"], out)
        if b.output is not None:
            check_text(b.output.text, out)

    def save(self, b, cwd, default=None):
        name = b.ann.get("file", default)
        path = os.path.join(cwd, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(b.text)
        return path

    def block(self, b, cwd):
        if b.lang == "sh" or b.lang == "console":
            # Annotations that only a whole-program block can honour.
            for k in ("status", "file"):
                if k in b.ann:
                    raise Failure(f"{k}= is for lua and c blocks; a sh "
                                  "line says 'exits N' in its comment")
        if b.lang == "lua":
            self.block_lua(b, cwd)
        elif b.lang == "c":
            self.block_c(b, cwd)
        elif b.lang == "sh":
            self.block_sh(b, cwd)
        elif b.lang == "console":
            self.block_console(b, cwd)
        elif b.lang == "text":
            pass  # not code, and not the output of a block before it
        else:
            raise Failure(f"no rule to run a ```{b.lang or '(no language)'} "
                          "block: annotate it skip=\"why\"")


def sh_comment(cmd):
    """The comment that ends a shell line ('' if none)."""
    quote, prev, j = None, " ", 0
    while j < len(cmd):
        ch = cmd[j]
        if ch == "\\" and quote != "'":
            j += 2  # an escaped character, quote or hash
            prev = "x"
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            return cmd[j + 1:]
        prev = ch
        j += 1
    return ""


def sh_commands(text):
    """(index of first line, command) for each command of a sh block."""
    cmds, cur, first = [], [], 0
    for j, line in enumerate(text.rstrip("\n").split("\n")):
        if not cur:
            first = j
        cur.append(line)
        if line.endswith("\\"):
            continue
        cmd = "\n".join(cur)
        cur = []
        if cmd.strip() and not cmd.lstrip().startswith("#"):
            cmds.append((first, cmd))
    if cur:
        cmds.append((first, "\n".join(cur)))
    return cmds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--lua-preload", default="")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    r = Runner(args)
    passed = failed = skipped = 0
    for path in args.files:
        rel = os.path.relpath(os.path.abspath(path), r.source)
        try:
            blocks = parse(path, rel)
        except Failure as e:
            print(f"FAIL {e}")
            failed += 1
            continue
        cwd = r.scratch(rel)
        for b in blocks:
            where = f"{b.path}:{b.line}: ```{b.lang}"
            if "skip" in b.ann:
                print(f"skip {where} ({b.ann['skip']})")
                skipped += 1
                continue
            t0 = time.monotonic()
            try:
                r.block(b, cwd)
                err = None
            except Failure as e:
                err = str(e)
            took = f"{time.monotonic() - t0:.1f} s"
            want = b.ann.get("fail")
            if want is not None:
                # The runner's own test: this block must fail so.
                if err is not None and want in err:
                    print(f"ok   {where} failed as it must ({took})")
                    passed += 1
                else:
                    print(f"FAIL {where}: must fail with {want!r}, "
                          f"but {'passed' if err is None else err}")
                    failed += 1
            elif err is None:
                print(f"ok   {where} ({took})")
                passed += 1
            else:
                print(f"FAIL {where}: {err}")
                failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
