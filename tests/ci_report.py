"""Summarises the JUnit XML files of `tests/run_all.sh`: tests and wall time per
part, and the slowest tests over all parts, so a reader of a CI log sees at once
where the time goes.

    python tests/ci_report.py REPORT_DIR [--slowest 20]
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def read_part(path: Path) -> tuple[dict, list[tuple[float, str]]]:
    """Returns ({tests, failures, errors, skipped}, [(seconds, test id)]) of one JUnit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    cases = [
        (float(case.get("time", 0.0)), f"{case.get('classname', '')}::{case.get('name', '')}")
        for suite in suites
        for case in suite.iter("testcase")
    ]
    return counts, cases


def read_wall_times(path: Path) -> dict[str, int]:
    """Returns {part: seconds} from the `part seconds` lines that run_all.sh writes."""
    if not path.exists():
        return {}
    return {name: int(seconds) for name, seconds in (line.split() for line in path.read_text().splitlines() if line)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--slowest", type=int, default=20)
    args = parser.parse_args(argv)
    walls = read_wall_times(args.report_dir / "wall_times")
    everything = []
    print(f"{'part':<14}{'tests':>7}{'failed':>8}{'skipped':>9}{'wall':>9}")
    for name, wall in walls.items():
        path = args.report_dir / f"{name}.xml"
        if not path.exists():
            print(f"{name:<14}{'(no report)':>24}{wall:>8}s")
            continue
        counts, cases = read_part(path)
        failed = counts["failures"] + counts["errors"]
        print(f"{name:<14}{counts['tests']:>7}{failed:>8}{counts['skipped']:>9}{wall:>8}s")
        everything += [(seconds, f"[{name}] {test}") for seconds, test in cases]
    print(f"total wall time of the parts: {sum(walls.values()) / 60:.1f} min")
    print(f"\n{args.slowest} slowest tests:")
    for seconds, test in sorted(everything, reverse=True)[: args.slowest]:
        print(f"{seconds:8.1f}s  {test}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
