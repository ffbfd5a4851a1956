#!/usr/bin/env python3
"""Runs one language binding's own test suite against the built libcommvq.so
inside `bazel test`, and reports each of its test cases in test.xml so the
project's counter counts them.

Usage (from capi/BUILD): run_binding_test.py LANG LIBRARY EXPECTATIONS GOLDEN
  LANG: python | rust | go. The binding's sources are read from the runfiles
  (capi/python, capi/rust, capi/go and capi/commvq.h) and copied to
  $TEST_TMPDIR, where every build output, cache and HOME also go.

A missing toolchain (python3 without numpy, cargo, go) makes the suite one
skipped case naming what to install: setup.sh installs all three, so in CI
they run.
"""

import os
import pwd
import re
import shutil
import subprocess
import sys
from xml.sax.saxutils import escape, quoteattr

# lang -> (command, per-case result pattern, {pattern word: outcome}).
RESULT_WORDS = {"ok": "passed", "FAIL": "failed", "FAILED": "failed",
                "ERROR": "failed", "PASS": "passed", "SKIP": "skipped",
                "ignored": "skipped"}
PATTERNS = {
    # unittest -v: "test_x (module.Class.test_x) ... ok"
    "python": re.compile(r"^(test\w*) \(([\w.]+)\) \.\.\. (ok|FAIL|ERROR|skipped)"),
    # cargo test: "test tests::name ... ok"
    "rust": re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)"),
    # go test -v: "--- PASS: TestName (0.00s)"
    "go": re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+)"),
}


def parse_cases(lang, output):
    """[(name, outcome)] from the runner's output."""
    cases = []
    for line in output.splitlines():
        m = PATTERNS[lang].match(line)
        if not m:
            continue
        if lang == "python":
            name, word = m.group(2), m.group(3)
        elif lang == "rust":
            name, word = m.group(1), m.group(2)
        else:
            name, word = m.group(2), m.group(1)
        cases.append((name, RESULT_WORDS.get(word, "skipped")))
    return cases


def write_xml(lang, cases, output):
    path = os.environ.get("XML_OUTPUT_FILE")
    if not path:
        return
    lines = [f'<testsuites><testsuite name="{lang}_binding" '
             f'tests="{len(cases)}">']
    for name, outcome in cases:
        lines.append(f"<testcase name={quoteattr(name)}>")
        if outcome == "failed":
            lines.append(f"<failure message={quoteattr(name + ' failed')}>"
                         f"{escape(output[-4000:])}</failure>")
        elif outcome == "skipped":
            lines.append("<skipped/>")
        lines.append("</testcase>")
    lines.append("</testsuite></testsuites>")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def missing_toolchain(lang):
    """A message naming what is missing, or None."""
    if lang == "python":
        probe = subprocess.run([sys.executable, "-c", "import numpy"],
                               capture_output=True)
        return None if probe.returncode == 0 else (
            f"{sys.executable} has no numpy (setup.sh installs python3-numpy)")
    tool = {"rust": "cargo", "go": "go"}[lang]
    return None if shutil.which(tool) else (
        f"`{tool}` is not on PATH (setup.sh installs it from Debian)")


def main():
    lang, library, expectations, golden = sys.argv[1:5]
    tmp = os.environ.get("TEST_TMPDIR") or os.path.abspath("tmp")
    missing = missing_toolchain(lang)
    if missing:
        print(f"SKIPPED the {lang} binding tests: {missing}")
        write_xml(lang, [(f"{lang}_toolchain_missing", "skipped")], missing)
        return 0

    # Sources: copied (runfiles are read-only symlinks; cargo and go write
    # next to them).
    src = os.path.join(tmp, "src")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join("capi", lang), os.path.join(src, "capi", lang))
    shutil.copy("capi/commvq.h", os.path.join(src, "capi", "commvq.h"))
    # The library under its link-time and its run-time (SONAME) names.
    lib = os.path.join(tmp, "lib")
    os.makedirs(lib, exist_ok=True)
    for name in ("libcommvq.so", "libcommvq.so.1"):
        shutil.copy(library, os.path.join(lib, name))

    env = dict(os.environ)
    env.update({
        "HOME": tmp,
        "LD_LIBRARY_PATH": lib,
        "COMMVQ_LIBRARY": os.path.join(lib, "libcommvq.so.1"),
        "COMMVQ_LIB_DIR": lib,
        "COMMVQ_EXPECTATIONS": os.path.abspath(expectations),
        "COMMVQ_GOLDEN_CODEBOOK": os.path.abspath(golden),
    })
    cwd = os.path.join(src, "capi", lang)
    if lang == "python":
        command = [sys.executable, "commvq_test.py", "-v"]
    elif lang == "rust":
        command = ["cargo", "test", "--offline"]
        # The compiler and rustdoc that come with this cargo (Debian's, or a
        # rustup proxy that still needs its own home, not the test's HOME).
        bin_dir = os.path.dirname(shutil.which("cargo"))
        env.update({"CARGO_TARGET_DIR": os.path.join(tmp, "target"),
                    "CARGO_HOME": os.path.join(tmp, "cargo"),
                    "RUSTC": os.path.join(bin_dir, "rustc"),
                    "RUSTDOC": os.path.join(bin_dir, "rustdoc")})
        rustup_home = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".rustup")
        if "RUSTUP_HOME" not in env and os.path.isdir(rustup_home):
            env["RUSTUP_HOME"] = rustup_home
    else:
        command = ["go", "test", "-v", "-count=1", "./..."]
        env.update({"GOCACHE": os.path.join(tmp, "gocache"),
                    "GOPATH": os.path.join(tmp, "gopath"),
                    "GOFLAGS": "-mod=mod", "GOPROXY": "off",
                    "GOTOOLCHAIN": "local", "CGO_ENABLED": "1",
                    "CGO_LDFLAGS": f"-L{lib}"})
    print(f"{lang} binding: running {' '.join(command)} with "
          f"{shutil.which(command[0])}")
    run = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    print(run.stdout)
    cases = parse_cases(lang, run.stdout)
    if run.returncode != 0 and not any(o == "failed" for _, o in cases):
        cases.append((f"{lang}_suite_exit_status", "failed"))
    if not cases:
        cases.append((f"{lang}_suite_ran_no_test", "failed"))
        run.returncode = run.returncode or 1
    write_xml(lang, cases, run.stdout)
    counts = {o: sum(1 for _, x in cases if x == o)
              for o in ("passed", "failed", "skipped")}
    print(f"{lang} binding: {counts['passed']} passed, {counts['failed']} "
          f"failed, {counts['skipped']} skipped")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
