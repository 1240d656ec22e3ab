"""The benchmarks and the demo keep working (they are run by hand, by `make bench` and by `make demo`; nothing is
timed here). The chaos soak runs in its --quick form: its invariants are behaviour, so a violation fails CI."""
import re
import subprocess
import sys

import pytest


@pytest.mark.process
@pytest.mark.zookeeper
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


@pytest.mark.process
@pytest.mark.zookeeper
@pytest.mark.hs2
@pytest.mark.lb
def test_demo_runs_and_cleans_up():
    out = subprocess.run([sys.executable, "-m", "hive_ha.sandbox.demo"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert re.search(r"zookeeper=127\.0\.0\.1:\d+ namespace=/hiveserver2", text)
    assert re.search(r"hsi-1 .*instance-\d+ active", text) and re.search(r"hsi-2 .*instance-\d+ passive", text)
    # the hard kill: the failover is timed and only the killed server's users move
    assert re.search(r"failure reported -> hs2-\d: connected and answered in \d+ ms", text)
    assert "(only hs2-" in text and re.search(r"znode expire \d+\.\d s later", text)
    # the HSI leader flip, seen by discovery and by the next query
    assert re.search(r"answered by hsi-1 \(the active instance\)", text)
    assert re.search(r"discovery saw the new leader \d+ ms after", text) and "answered by hsi-2" in text
    # the HAProxy config for the live servers, validated by the real binary
    assert text.count("| server s_127.0.0.1_") == 2 and "haproxy -c: configuration valid" in text
    assert "AllServersFailed: Could not open client transport for any of the Server URI's" in text
    assert "ports closed" in text and "removed" in text


@pytest.mark.process
@pytest.mark.zookeeper
@pytest.mark.hs2
@pytest.mark.slow
def test_chaos_soak_quick_keeps_every_invariant():
    out = subprocess.run([sys.executable, "benchmarks/chaos.py", "--quick"], capture_output=True, text=True,
                         timeout=900)
    text = out.stdout
    assert text.strip().splitlines()[-1] == "invariant_violations=0", text + out.stderr[-4000:]
    assert out.returncode == 0
    assert re.match(r"chaos seed=\d+ duration=45s", text)
    for name in ("progress", "lookup_latency", "deregistered", "connect_bounded", "connect_success"):
        assert f"invariant {name} violations=0" in text
    faults = re.search(r"^faults (.*)$", text, re.M).group(1).split()
    assert len(faults) >= 5, text  # several kinds of fault were injected (every kind once, in a seeded order)
    assert re.search(r"connects total=\d+ eligible=[1-9]\d* ok=", text) and re.search(r"lookups total=[1-9]", text)
