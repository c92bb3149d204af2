#!/usr/bin/env python3
"""Black-box mode against a second gateway that is not Switchyard (docs/BLACKBOX.md).

Starts two fakes (`switchyard fake serve`), tests/blackbox/proxy.py in front of the primary
alone, and `switchyard gateway` in front of both, every one on a free loopback port. Then runs
tests/blackbox/outage.yaml live twice, with `gateway:` pointing at each:

- through the proxy, which has no failover, the run fails (exit 1): requests fail during the
  outage, the standby fake receives nothing, and the proxy received every request the runner
  counted (the runner did not go around it);
- through Switchyard's gateway, the same scenario passes (exit 0) and the standby served.

Usage: run.py [PATH_TO_SWITCHYARD_BINARY]. Standard library only; about 30 s.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STARTUP_TIMEOUT = 20.0
RUN_TIMEOUT = 60.0


def start(args, pattern, count=1):
    """Starts a process and reads its stdout until `count` lines match `pattern`."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while len(found) < count:
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{args[0]} did not start in {STARTUP_TIMEOUT} s")
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"{' '.join(args)} exited: {proc.wait()}")
        m = re.search(pattern, line)
        if m:
            found.append(m.group(1))
    return proc, found


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def run_through(binary, work, name, gateway, primary, standby):
    text = open(os.path.join(HERE, "outage.yaml")).read()
    text = (
        text.replace("http://127.0.0.1:9300", gateway)
        .replace("http://127.0.0.1:9201", primary)
        .replace("http://127.0.0.1:9202", standby)
    )
    scenario = os.path.join(work, f"{name}.yaml")
    with open(scenario, "w") as f:
        f.write(text)
    out = os.path.join(work, name)
    done = subprocess.run(
        [binary, "run", scenario, "--mode", "live", "--quiet", "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    # `--out DIR` writes each scenario into DIR/<scenario name>/.
    path = os.path.join(out, "blackbox-outage", "report.json")
    assert os.path.exists(path), f"exit {done.returncode}, no report: {done.stderr}"
    with open(path) as f:
        report = json.load(f)
    return done.returncode, report


def failover_from_the_fakes(report, failed_over):
    # The runner cannot see a black box's breakers (no detection figure); the failover is
    # read from what each fake counted, on the runner's clock.
    for f in report["failover"]:
        line = f["exercised"]["line"]
        assert "black box: counted by the fakes" in line, f
        assert f["time_to_detect_secs"] is None, f
        assert f["exercised"]["exercised"], f
        assert (f["time_to_failover_secs"] is not None) == failed_over, f
    assert report["black_box"]["not_observed"], report.get("black_box")
    assert report["targets"] == [] and report["totals"]["served_by"] == {}, report["targets"]


def requests_received(report, provider):
    counters = report["fake_counters"].get(provider)
    assert counters is not None, f"no counters for {provider}: {report['fake_counters']}"
    return counters["requests"]


def main():
    # proxy.py itself first: counted once, whole replies, no request smuggled after a 413.
    subprocess.run([sys.executable, os.path.join(HERE, "proxy_test.py")], check=True, timeout=60)
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/switchyard"))
    procs = []
    try:
        fakes, (primary, standby) = start(
            [binary, "fake", "serve", "--profile", "small-fast", "--profile", "small-fast"],
            r"(http://\S+)",
            count=2,
        )
        procs.append(fakes)
        proxy, (proxy_url,) = start(
            [sys.executable, os.path.join(HERE, "proxy.py"), "--upstream", primary, "--model", "small-fast-1"],
            r"^proxy (http://\S+)",
        )
        procs.append(proxy)
        with tempfile.TemporaryDirectory(prefix="switchyard-blackbox-") as work:
            config = open(os.path.join(HERE, "gateway.yaml")).read()
            config = config.replace("http://127.0.0.1:9201", primary).replace("http://127.0.0.1:9202", standby)
            config_file = os.path.join(work, "gateway.yaml")
            with open(config_file, "w") as f:
                f.write(config)
            gateway, (gateway_url,) = start(
                [binary, "gateway", "--config", config_file, "--listen", "127.0.0.1:0"],
                r"^gateway (http://\S+)",
            )
            procs.append(gateway)

            # 1. Through the proxy: no failover, so the outage fails requests.
            code, report = run_through(binary, work, "proxy", proxy_url, primary, standby)
            totals = report["totals"]
            stats = get_json(f"{proxy_url}/_proxy/stats")
            print(
                f"through proxy.py: exit {code}, {totals['requests']} requests, "
                f"success {totals['success_rate']:.3f}, proxy saw {stats}"
            )
            assert code == 1, f"the proxy has no failover, the run must fail: exit {code}"
            assert report["passed"] is False
            assert totals["requests"] > 50, totals
            assert totals["success_rate"] < 0.9, totals
            # The runner measured the proxy, not itself: every request it counted went
            # through the proxy, and the proxy never reached the standby.
            assert stats["requests"] == totals["requests"], (stats, totals["requests"])
            assert stats["by_status"].get("503", 0) > 0, stats
            assert requests_received(report, "standby") == 0, report["fake_counters"]
            during = next(e for e in report["expectations"] if "during:outage" in e["name"])
            assert during["passed"] is False and during["observed"] < 0.5, during
            failover = next(e for e in report["expectations"] if e["metric"] == "time_to_failover")
            assert failover["passed"] is False and failover["observed"] is None, failover
            failover_from_the_fakes(report, failed_over=False)

            # 2. The same scenario through Switchyard's gateway: it fails over, the run holds.
            code, report = run_through(binary, work, "switchyard", gateway_url, primary, standby)
            totals = report["totals"]
            print(
                f"through switchyard gateway: exit {code}, {totals['requests']} requests, "
                f"success {totals['success_rate']:.3f}"
            )
            assert code == 0, f"exit {code}: {[e for e in report['expectations'] if not e['passed']]}"
            assert report["passed"] is True
            assert totals["requests"] > 50, totals
            assert requests_received(report, "standby") > 0, report["fake_counters"]
            failover_from_the_fakes(report, failed_over=True)
    finally:
        for p in reversed(procs):
            stop(p)
    print("black-box: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
