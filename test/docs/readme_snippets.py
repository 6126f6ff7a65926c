#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compiles every ```cpp block of README.md against the build tree, as a user would paste it.

  readme_snippets.py --source-root SRC --build-root BUILD --lib LIB.a... [--cxx CXX]
                     [--readme README.md] [--only LINE] [--keep DIR] [--jobs N]

A block is one of:
- a program (it defines `main`): compiled and linked against ember's libraries (the --lib
  archives, in link order, and the system libraries pkg-config lists for them), not run;
- anything else: compiled with -fsyntax-only, so it must be self-contained: its own includes and
  declarations;
- marked by an HTML comment on the lines right before its fence (invisible on GitHub):
    <!-- snippet: skip REASON -->       not compiled (REASON is required; use it sparingly);
    <!-- snippet: fragment
    lines pasted before the block
    ---
    lines pasted after it
    -->                                 a piece of a larger file: compiled with the lines above
                                        around it (everything before `---` goes first).
A block that includes a generated Cap'n Proto header ("apps/examples/.../x.capnp.h") gets that
schema's generated .c++ from the build tree compiled in when it is linked.

Every block is compiled even after a failure; each failure prints the README line of the block,
the code as compiled and the compiler's errors. Exit status 1 if any block failed. The last line
is "N passed, M failed" (skipped blocks are counted apart).
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(\s*)```cpp\s*$")
CLOSE = re.compile(r"^\s*```\s*$")
MAIN = re.compile(r"\bint\s+main\s*\(")
CAPNP_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+\.capnp\.h)"', re.M)


class Snippet:
    def __init__(self, line, code, directive):
        self.line = line            # 1-based README line of the opening fence
        self.code = code
        self.kind = "block"
        self.before = ""
        self.after = ""
        self.reason = ""
        if directive is not None:
            self.parse_directive(directive)

    def parse_directive(self, text):
        head, _, rest = text.partition("\n")
        words = head.split(None, 1)
        if not words:
            raise ValueError(f"README line {self.line}: empty snippet directive")
        self.kind = words[0]
        if self.kind == "skip":
            self.reason = words[1].strip() if len(words) > 1 else ""
            if not self.reason:
                raise ValueError(f"README line {self.line}: `snippet: skip` needs a reason")
        elif self.kind == "fragment":
            if len(words) > 1:
                raise ValueError(f"README line {self.line}: `snippet: fragment` takes its context on "
                                 "the following lines, not after the word")
            context = rest.split("\n")
            marks = [n for n, l in enumerate(context) if l.strip() == "---"]
            if len(marks) > 1:
                raise ValueError(f"README line {self.line}: a fragment's context has more than one `---`")
            cut = marks[0] if marks else len(context)
            before, after = "\n".join(context[:cut]), "\n".join(context[cut + 1:])
            self.before, self.after = before, after
        else:
            raise ValueError(f"README line {self.line}: unknown snippet directive `{self.kind}` "
                             "(expected skip or fragment)")

    def source(self):
        parts = []
        if self.before.strip():
            parts.append(self.before.rstrip("\n"))
        parts.append(f'#line {self.line + 1} "README.md"')
        parts.append(self.code.rstrip("\n"))
        if self.after.strip():
            parts.append(self.after.rstrip("\n"))
        return "\n".join(parts) + "\n"

    def is_program(self):
        return bool(MAIN.search(self.before + self.code + self.after))


def directive_before(lines, fence_index):
    """The text of a `<!-- snippet: ... -->` comment ending right before lines[fence_index]."""
    i = fence_index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0 or not lines[i].rstrip().endswith("-->"):
        return None
    end = i
    while i >= 0 and "<!--" not in lines[i]:
        i -= 1
    if i < 0:
        return None
    text = "\n".join(lines[i:end + 1]).strip()
    m = re.match(r"<!--\s*snippet:\s*(.*?)\s*-->$", text, re.S)
    if not m:
        return None
    return m.group(1).strip()


def extract(readme_text):
    lines = readme_text.split("\n")
    snippets = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        start = i
        body = []
        i += 1
        while i < len(lines) and not CLOSE.match(lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"README line {start + 1}: ```cpp block is not closed")
        snippets.append(Snippet(start + 1, "\n".join(body) + "\n", directive_before(lines, start)))
        i += 1
    return snippets


def pkg_config_flags(build_root):
    """Compiler and linker flags of ember's dependencies (not ember's own libraries)."""
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.join(build_root, "meson-uninstalled")
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "ember-scheduler", "ember-testkit"],
                         env=env, check=True, capture_output=True, text=True).stdout.split()
    cflags = [f for f in out if f.startswith("-D") or f == "-pthread"]
    libs = [f for f in out if (f.startswith("-l") and not f.startswith("-lember_")) or f == "-pthread"]
    return cflags, libs


def compiler(args):
    return (args.cxx or os.environ.get("CXX", "c++")).split() + ["-std=c++20"]


def compile_one(snippet, index, args, cflags, libs, workdir):
    path = os.path.join(workdir, f"snippet_{index:02d}_line{snippet.line}.cpp")
    src = snippet.source()
    with open(path, "w") as f:
        f.write(src)
    # -I for the build tree's generated headers (schemas) and the source tree's headers, as a
    # project in this tree has them (see README, "Building against ember").
    cmd = compiler(args) + ["-I" + args.source_root, "-I" + args.build_root] + cflags
    if snippet.is_program():
        extra = []
        for header in CAPNP_INCLUDE.findall(src):
            generated = os.path.join(args.build_root, header[:-len(".h")] + ".c++")
            if header.startswith("rpc/") or header.startswith("scheduler/") or \
                    header.startswith("storage/") or header.startswith("shuffle/"):
                continue  # ember's own schemas are in its libraries
            if not os.path.exists(generated):
                return snippet, False, f"{header} is not generated in the build tree ({generated})", src
            extra.append(generated)
        cmd += [path] + extra + ["-o", path[:-4]] + args.lib + libs
        what = "compiled and linked"
    else:
        cmd += ["-fsyntax-only", path]
        what = "compiled (-fsyntax-only)"
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return snippet, False, (r.stdout + r.stderr)[-6000:], src
    return snippet, True, what, src


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--readme")
    ap.add_argument("--cxx", help="the C++ compiler command (default: $CXX, else c++)")
    ap.add_argument("--lib", action="append", default=[], help="an ember static library, in link order")
    ap.add_argument("--only", type=int, help="only the block whose fence is on this README line")
    ap.add_argument("--keep", help="write the compiled files here instead of a temporary directory")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    args.source_root = os.path.abspath(args.source_root)
    args.build_root = os.path.abspath(args.build_root)
    readme = args.readme or os.path.join(args.source_root, "README.md")

    try:
        with open(readme) as f:
            snippets = extract(f.read())
    except (OSError, ValueError) as e:
        print(f"readme_snippets: {e}", file=sys.stderr)
        return 1
    if args.only:
        snippets = [s for s in snippets if s.line == args.only]
    if not snippets:
        print(f"readme_snippets: no ```cpp block found in {readme}", file=sys.stderr)
        return 1
    cflags, libs = pkg_config_flags(args.build_root)

    workdir = args.keep or tempfile.mkdtemp(prefix="ember-readme-")
    os.makedirs(workdir, exist_ok=True)
    passed = failed = skipped = 0
    try:
        todo = []
        for i, s in enumerate(snippets):
            if s.kind == "skip":
                print(f"SKIP README.md:{s.line}: {s.reason}")
                skipped += 1
            else:
                todo.append((i, s))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(compile_one, s, i, args, cflags, libs, workdir) for i, s in todo]
            for fut in futures:
                s, ok, detail, src = fut.result()
                label = "fragment" if s.kind == "fragment" else ("program" if s.is_program() else "block")
                if ok:
                    passed += 1
                    print(f"ok   README.md:{s.line}: {label}, {detail}")
                else:
                    failed += 1
                    print(f"FAIL README.md:{s.line}: {label} does not compile as pasted")
                    print("---- code as compiled ----")
                    for n, text in enumerate(src.rstrip("\n").split("\n"), 1):
                        print(f"{n:4} | {text}")
                    print("---- compiler ----")
                    print(detail.rstrip())
                    print("----")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"snippets: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
