#!/usr/bin/env python3
"""Prints the ninja targets a sanitizer build needs, one path per line, relative to the build dir.

    sanitizer_targets.py BUILD_DIR --fuzz                  the libFuzzer targets (test/fuzz)
    sanitizer_targets.py BUILD_DIR [meson test args...]    what the tests those args select run

test/sanitize.sh builds only these instead of the whole tree: the benchmarks, the examples and
the apps no selected test runs are left out of the instrumented build, which on two cores is
the longest step of CI. A test's programs are its executable and its `depends:` (meson.build
declares every program a test starts). Exits non-zero, naming the problem, if meson cannot
list the tests or lists one its introspection does not know.
"""
import json
import os
import subprocess
import sys


def meson_json(build_dir, what):
    out = subprocess.run(["meson", "introspect", what, build_dir], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv):
    if len(argv) < 2:
        print("usage: sanitizer_targets.py BUILD_DIR [--fuzz | meson test args...]", file=sys.stderr)
        return 2
    build_dir = argv[1].rstrip("/")
    targets = meson_json(build_dir, "--targets")
    files_of = {t["id"]: t["filename"] for t in targets}
    wanted = []
    if argv[2:] == ["--fuzz"]:
        for t in targets:
            if "/test/fuzz/" in t["defined_in"] and t["type"] == "executable":
                wanted += t["filename"]
    else:
        listed = subprocess.run(["meson", "test", "-C", build_dir, "--no-rebuild", "--list", *argv[2:]],
                                check=True, capture_output=True, text=True).stdout
        names = {line.rsplit(" / ", 1)[-1].strip() for line in listed.splitlines() if " / " in line}
        for t in meson_json(build_dir, "--tests"):
            if t["name"] not in names:
                continue
            names.discard(t["name"])
            # A test run by a script of the source tree with no `depends:` needs nothing built.
            for d in t.get("depends", []):
                wanted += files_of.get(d, [])
        if names:
            print(f"sanitizer_targets.py: `meson test --list` named tests that `meson introspect --tests` "
                  f"does not know: {sorted(names)}", file=sys.stderr)
            return 1
    prefix = os.path.realpath(build_dir) + "/"
    seen = set()
    for f in wanted:
        f = os.path.realpath(f)
        rel = f[len(prefix):] if f.startswith(prefix) else f
        if rel not in seen:
            seen.add(rel)
            print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
