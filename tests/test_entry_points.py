"""The benchmark and the demo keep working (they are run by hand and by `make demo`; nothing is timed here)."""
import re
import subprocess
import sys


def test_lookup_benchmark_quick_reports_ratio_and_no_zk_requests():
    out = subprocess.run([sys.executable, "benchmarks/lookup.py", "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert re.fullmatch(r"speedup_vs_per_call_zk=\d+x", lines[-1])
    assert "zookeeper_requests_per_10000_warm_lookups=0" in lines
    for threads in (1, 8, 64):
        assert re.search(rf"hive-ha cache\s+{threads}\s", out.stdout)
        assert re.search(rf"zk client per lookup\s+{threads}\s", out.stdout)


def test_demo_runs_and_cleans_up():
    out = subprocess.run([sys.executable, "-m", "hive_ha.demo"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert re.search(r"zookeeper=127\.0\.0\.1:\d+ namespace=/hiveserver2", text)
    assert "only hs2-" in text and "reselections: 1" in text
    assert "NoEndpointAvailable: no HiveServer2 endpoint available" in text
    assert "excluded after failures" in text
