#!/usr/bin/env python3
"""Counts test cases of one `bazel test` invocation from its build event log.

Usage: count_test_results.py BEP_JSON_FILE [--summary-file FILE]

Prints `N passed, N failed, N skipped` counted over GoogleTest cases (each
<testcase> of a target's test.xml), not Bazel targets. A test target that did
not build counts as one failure (one that built but was filtered out by
--test_tag_filters is not counted); one skipped as incompatible (e.g. CUDA
targets with CUDA off) as one skip; a target whose test.xml shows no failure
but whose run failed (a crash at exit, a sanitizer report) as one more
failure. Exit status 1 if anything failed. With --summary-file the three
numbers are also appended to FILE (one line), so a CI script can add up
several invocations.
"""

import argparse
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET


def local_path(uri):
    if not uri.startswith("file://"):
        return None
    return urllib.parse.unquote(uri[len("file://"):])


def count_xml(path):
    """(passed, failed, skipped) over the <testcase> elements of test.xml."""
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif (case.get("result") == "skipped" or case.get("status") == "notrun"
              or case.find("skipped") is not None):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bep")
    parser.add_argument("--summary-file")
    args = parser.parse_args()

    tests = set()           # labels of test rules configured in this run
    completed = {}          # label -> "ok" | "skipped" | "failed"
    results = {}            # label -> list of (status, test.xml path)
    with open(args.bep) as f:
        for line in f:
            event = json.loads(line)
            kind, key = next(iter(event["id"].items()))
            if kind == "targetConfigured":
                if "testSize" in event.get("configured", {}):
                    tests.add(key["label"])
            elif kind == "targetCompleted":
                label = key["label"]
                if "aborted" in event:
                    reason = event["aborted"].get("reason")
                    completed[label] = "skipped" if reason == "SKIPPED" else "failed"
                else:
                    ok = event.get("completed", {}).get("success", False)
                    completed[label] = "ok" if ok else "failed"
            elif kind == "testResult":
                result = event.get("testResult", {})
                xml = None
                for output in result.get("testActionOutput", []):
                    if output.get("name") == "test.xml":
                        xml = local_path(output.get("uri", ""))
                results.setdefault(key["label"], []).append(
                    (result.get("status", "NO_STATUS"), xml))

    passed = failed = skipped = 0
    problems = []
    for label in sorted(tests):
        state = completed.get(label, "failed")
        if state == "skipped":
            skipped += 1
            continue
        if state == "failed":
            failed += 1
            problems.append(f"{label}: did not build")
            continue
        if label not in results:
            # Built but not run: excluded by --test_tag_filters. (An aborted
            # run makes bazel itself fail, which run_tests.sh reports.)
            continue
        for status, xml in results[label]:
            p = f = s = 0
            if xml:
                try:
                    p, f, s = count_xml(xml)
                except (OSError, ET.ParseError) as error:
                    problems.append(f"{label}: unreadable test.xml ({error})")
            if status != "PASSED" and f == 0:
                f += 1  # the run failed although no test case did
            if f:
                problems.append(f"{label}: {status}")
            passed, failed, skipped = passed + p, failed + f, skipped + s

    for problem in problems:
        print("FAILED", problem, file=sys.stderr)
    line = f"{passed} passed, {failed} failed, {skipped} skipped"
    print(line)
    if args.summary_file:
        with open(args.summary_file, "a") as f:
            f.write(f"{passed} {failed} {skipped}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
