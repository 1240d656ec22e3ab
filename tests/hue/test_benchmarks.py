"""The Hue benchmarks run (quick mode) and report what they promise; the figures themselves are read, not asserted."""
import os
import re
import subprocess
import sys

import pytest

from tests._pip import ROOT

pytestmark = pytest.mark.slow


def run_benchmark(name, *args):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), "--quick", *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_hue_lookup_benchmark_reports_the_speedup_and_no_zookeeper_request():
    lines = run_benchmark("hue_lookup.py")
    assert re.fullmatch(r"hue_editor_lookup_speedup=\d+x", lines[-2])
    assert lines[-1] == "zookeeper_requests_per_1000_editor_lookups=0"


def test_hue_failover_benchmark_every_user_answered_with_one_new_session():
    lines = run_benchmark("hue_failover.py")
    rows = [line.split() for line in lines if re.match(r"\s*(2|50)\s+1\s", line)]
    assert [(row[0], row[4], row[5]) for row in rows] == [("2", "1.00", "0"), ("50", "1.00", "0")]
    assert re.fullmatch(r"recovery_ms_50_users=\d+", lines[-1])


@pytest.mark.lb
@pytest.mark.process
def test_hue_failover_benchmark_through_the_load_balancer_reports_recovery_over_floor():
    lines = run_benchmark("hue_failover.py", "--hue-instances", "2", "--users", "4")
    assert "db=postgresql hue_instances=2 workers=2 users=4 rounds=1 servers=sandbox" in lines
    rows = {row[1]: row for row in (line.split() for line in lines) if row[:1] == ["1"] and len(row) == 9}
    # first contact (the floor), recovery after kill -9, a reopened session: one new session per user, no error
    assert {phase: (row[7], row[8]) for phase, row in rows.items()} == {
        "first": ("1.00", "0"), "recovery": ("1.00", "0"), "reopen": ("1.00", "0")}
    assert re.fullmatch(r"recovery_over_floor_p95=\d+\.\d\d lock_waits_over_100ms=\d+ deadlocks=0 errors=0",
                        lines[-1])


@pytest.mark.kerberos
def test_hue_failover_benchmark_in_a_kerberized_cluster_has_no_auth_error():
    lines = run_benchmark("hue_failover.py", "--kerberos")
    rows = [line.split() for line in lines if re.match(r"\s*2\s+1\s", line)]
    assert [(row[5], row[6]) for row in rows] == [("0", "0")]  # neither Kerberos errors nor others
    assert re.fullmatch(r"kerberized_recovery_p50_ms=\d+ auth_errors=0", lines[-1])


def test_gray_benchmark_reports_no_false_death_and_no_wrong_lost_message():
    lines = run_benchmark("gray.py")
    faults = {line.split()[0]: line for line in lines if line.startswith("fault=")}
    assert sorted(faults) == ["fault=hang_for_good", "fault=pause", "fault=restart", "fault=slow_compile"]
    assert "new_registration_punished=False" in faults["fault=restart"]
    assert "write=error" in faults["fault=slow_compile"] and "write_rerun_elsewhere=0" in faults["fault=slow_compile"]
    assert re.fullmatch(r"false_deaths=0 lost_results_reported_wrongly=0 max_poll_block_ms=\d+", lines[-1])
