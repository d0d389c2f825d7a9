"""The summary that tests/run_all.sh prints: tests and wall time per part, slowest tests."""

import pytest

from tests.ci_report import main

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="0" tests="{tests}">
{cases}
</testsuite></testsuites>
"""


def write_part(folder, name, times, failures=0, errors=0):
    cases = "\n".join(f'<testcase classname="tests.test_x" name="test_{name}_{i}" time="{t}"/>'
                      for i, t in enumerate(times))
    (folder / f"{name}.xml").write_text(JUNIT.format(errors=errors, failures=failures, tests=len(times), cases=cases))


def test_summary_lists_parts_in_run_order_and_the_slowest_tests_first(tmp_path, capsys):
    write_part(tmp_path, "backend-free", [0.5, 2.0])
    write_part(tmp_path, "jax", [30.0, 1.0, 12.5], failures=1)
    (tmp_path / "wall_times").write_text("backend-free 40\njax 98\n")
    assert main([str(tmp_path), "--slowest", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["backend-free", "2", "0", "0", "40s"]
    assert out[2].split() == ["jax", "3", "1", "0", "98s"]
    assert "2.3 min" in out[3]
    slowest = out[out.index("2 slowest tests:") + 1:]
    assert [line.split()[0] for line in slowest] == ["30.0s", "12.5s"]
    assert slowest[0].endswith("[jax] tests.test_x::test_jax_0")


def test_a_part_that_wrote_no_report_is_named(tmp_path, capsys):
    (tmp_path / "wall_times").write_text("torch 12\n")
    assert main([str(tmp_path)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("torch")]
    assert "(no report)" in line and line.endswith("12s")
