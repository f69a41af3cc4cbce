"""Under gevent a batch does not hold its worker from start to end: the
reads that are ready run between reading its body and checking it, and
between checking it and writing it (measured in docs/performance.md,
"Reads while ingest runs")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from service.transport import let_others_run

ROOT = Path(__file__).resolve().parents[2]


def test_outside_gevent_letting_others_run_is_a_no_op():
    assert let_others_run() is None


def test_under_gevent_a_read_that_is_ready_runs_before_the_batch_is_checked(redis_url, redis_cluster_mode, clean_redis):
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gevent_batch_turns.py"), redis_url, "1" if redis_cluster_mode else "0"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["helper_yields"]
    events = found["events"]
    assert events.index("read started") < events.index("batch checked"), events
    assert "batch answered 200" in events and "read answered 200" in events, events
