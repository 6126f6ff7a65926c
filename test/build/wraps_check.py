#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks subprojects/*.wrap against the project's meson.build files.

Every wrap must parse as meson reads it (an INI file, no interpolation) with a [wrap-file]
section whose source_url, source_filename, directory and source_hash (SHA-256) are set, a
patch given either as patch_directory (subprojects/packagefiles/<dir>/meson.build, which must
assign every variable the wrap's [provide] names and declare the wrap's version) or as
patch_url/patch_filename/patch_hash, and a non-empty [provide]. The dependency names the wraps
provide must be exactly those that meson.build files ask for with `allow_fallback: true` or
`fallback:`, each provided once.

Usage: wraps_check.py SOURCE_ROOT. Exit status 0 when every check passes, else 1 with one line
per problem. The script also checks itself first: on a broken copy it must report the breakage.
"""

import configparser
import os
import pathlib
import re
import sys
import tempfile

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def strip_comments(text):
    """meson source without # comments (strings, including ''' ones, are kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("'''", i):
            j = text.find("'''", i + 3)
            j = n if j < 0 else j + 3
            out.append(text[i:j])
            i = j
        elif text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text[i] == "#":
            while i < n and text[i] != "\n":
                i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def dependency_calls(text):
    """(name, arguments) of every dependency('name', ...) call in meson source."""
    text = strip_comments(text)
    for m in re.finditer(r"(?<![\w.])dependency\s*\(", text):
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        args = text[m.end():j - 1]
        name = re.match(r"\s*'([^']*)'", args)
        if name:
            yield name.group(1), args


def asked_with_fallback(root):
    """{dependency name: meson.build path} of the project's calls that allow a fallback."""
    asked = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = pathlib.Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames
                       if not d.startswith(".") and not (rel == pathlib.Path(".") and (d.startswith("build") or d == "subprojects"))]
        if "meson.build" in filenames:
            path = pathlib.Path(dirpath) / "meson.build"
            for name, args in dependency_calls(path.read_text(encoding="utf-8")):
                if re.search(r"\ballow_fallback\s*:\s*true\b", args) or re.search(r"\bfallback\s*:", args):
                    asked[name] = str(path.relative_to(root))
    return asked


def check_wrap(path, problems):
    """The dependency names `path` provides; appends its problems."""
    def problem(what):
        problems.append(f"{path.name}: {what}")

    wrap = configparser.ConfigParser(interpolation=None)
    try:
        wrap.read(path, encoding="utf-8")
    except configparser.Error as e:
        problem(f"does not parse: {e}".replace("\n", " "))
        return set()
    if not wrap.has_section("wrap-file"):
        problem("has no [wrap-file] section")
        return set()
    w = wrap["wrap-file"]
    for key in ("directory", "source_url", "source_filename", "source_hash"):
        if not w.get(key):
            problem(f"[wrap-file] has no {key}")
    for key in ("source_url", "source_fallback_url", "patch_url"):
        if w.get(key) and not re.match(r"^https?://", w[key]):
            problem(f"{key} is not an http(s) URL: {w[key]}")
    for key in ("source_hash", "patch_hash"):
        if key in w and not SHA256.match(w[key]):
            problem(f"{key} is not a SHA-256 in lower-case hex: {w[key]}")
    patch_keys = [k for k in ("patch_url", "patch_filename", "patch_hash") if k in w]
    packagefile = None
    if "patch_directory" in w:
        if patch_keys:
            problem("has both patch_directory and " + ", ".join(patch_keys))
        packagefile = path.parent / "packagefiles" / w["patch_directory"] / "meson.build"
        if not packagefile.is_file():
            problem(f"patch_directory {w['patch_directory']} has no {packagefile.relative_to(path.parent.parent)}")
            packagefile = None
    elif patch_keys and len(patch_keys) != 3:
        problem("needs all of patch_url, patch_filename, patch_hash, or none")
    if not wrap.has_section("provide") or not list(wrap["provide"].keys()):
        problem("has no [provide] entries")
        return set()
    provided, variables = set(), set()
    for key, value in wrap["provide"].items():
        if key == "dependency_names":
            provided.update(n.strip() for n in value.split(",") if n.strip())
        elif key != "program_names":
            provided.add(key)
            variables.add(value.strip())
    if packagefile:
        text = strip_comments(packagefile.read_text(encoding="utf-8"))
        for var in sorted(variables):
            if not re.search(rf"(?m)^\s*{re.escape(var)}\s*=", text):
                problem(f"[provide] names {var}, which {packagefile.name} of {w['patch_directory']} never assigns")
        version = re.search(r"(?s)project\s*\(.*?version\s*:\s*'([^']+)'", text)
        if not version:
            problem(f"packagefiles/{w['patch_directory']}/meson.build declares no project version")
        elif not w.get("directory", "").endswith("-" + version.group(1)):
            problem(f"packagefiles/{w['patch_directory']} builds version {version.group(1)}, "
                    f"the wrap unpacks {w.get('directory')}")
    return provided


def check(root):
    """Every problem of the wraps under root/subprojects against root's meson.build files."""
    root = pathlib.Path(root)
    problems, provided_by = [], {}
    wraps = sorted((root / "subprojects").glob("*.wrap"))
    if not wraps:
        problems.append("subprojects/ has no .wrap files")
    for path in wraps:
        for name in check_wrap(path, problems):
            if name in provided_by:
                problems.append(f"{path.name}: provides {name}, as {provided_by[name]} does")
            provided_by[name] = path.name
    asked = asked_with_fallback(root)
    for name in sorted(set(asked) - set(provided_by)):
        problems.append(f"{asked[name]} asks for {name} with a fallback, but no wrap provides it")
    for name in sorted(set(provided_by) - set(asked)):
        problems.append(f"{provided_by[name]} provides {name}, which no meson.build asks for with allow_fallback")
    return problems, provided_by


def self_test():
    """check() must see a wrap that lost its [provide] line, a bad hash and a missing packagefile."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "subprojects" / "packagefiles" / "a").mkdir(parents=True)
        (root / "subprojects" / "packagefiles" / "a" / "meson.build").write_text(
            "project('a', 'c', version: '1.0')\na_dep = declare_dependency()\n")
        (root / "meson.build").write_text(
            "x = dependency('a', allow_fallback: true)\n# y = dependency('c', allow_fallback: true)\n"
            "z = declare_dependency(link_with: dependency('b',\n  allow_fallback: true))\n")
        (root / "subprojects" / "a.wrap").write_text(
            "[wrap-file]\ndirectory = a-1.0\nsource_url = https://example.org/a.tar.gz\n"
            "source_filename = a.tar.gz\nsource_hash = " + "0" * 64 + "\npatch_directory = a\n\n"
            "[provide]\na = a_dep\n")
        problems, provided = check(root)
        assert set(provided) == {"a"} and problems == [
            "meson.build asks for b with a fallback, but no wrap provides it"], problems
        (root / "subprojects" / "b.wrap").write_text(
            "[wrap-file]\ndirectory = b-2.0\nsource_url = https://example.org/b.tar.gz\n"
            "source_filename = b.tar.gz\nsource_hash = 12ab\npatch_directory = b\n")
        problems, _ = check(root)
        assert problems == ["b.wrap: source_hash is not a SHA-256 in lower-case hex: 12ab",
                            "b.wrap: patch_directory b has no subprojects/packagefiles/b/meson.build",
                            "b.wrap: has no [provide] entries",
                            "meson.build asks for b with a fallback, but no wrap provides it"], problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], "\nusage: wraps_check.py SOURCE_ROOT", file=sys.stderr)
        return 2
    self_test()
    problems, provided = check(sys.argv[1])
    for p in problems:
        print(p)
    if not problems:
        print("wraps ok: " + ", ".join(f"{name} ({wrap})" for name, wrap in sorted(provided.items())))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
