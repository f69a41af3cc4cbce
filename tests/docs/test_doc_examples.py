"""Every curl example in README.md and docs/*.md runs as written against a
real sensorhub, on any day.

The examples are the ```sh and ```bash blocks that call curl. They are
written for `make run` (``localhost:8080``); here each file's blocks run in
order, each in its own ``bash -e -o pipefail``, against gunicorn started on a
free port (``localhost:8080`` is replaced by its address) on a Redis emptied
before each file. So a file's examples may build on each other, and may not
depend on another file's.

Conventions the runner enforces:

- every curl carries ``-f`` (``-fsS``, ``--fail``, ``--fail-with-body``), so an
  HTTP error fails the example;
- an example that shows an error answer is a block directly preceded by the
  line ``<!-- example: shows an error -->``; there a curl without ``-f`` must
  get an HTTP error (and a curl with ``-f`` must still succeed);
- timestamps are computed (``$(date -u ...)``), never written as dates that
  fall out of retention.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import GunicornServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ERROR_MARK = "<!-- example: shows an error -->"
FENCE = re.compile(r"^```(\S*)")

# A curl function that enforces the conventions above, put before each block.
PREAMBLE = r"""
curl() {
  local arg fail=""
  for arg in "$@"; do
    case "$arg" in
      --fail|--fail-with-body) fail=1 ;;
      --*) ;;
      -*f*) fail=1 ;;
    esac
  done
  if [ -n "$fail" ]; then
    command curl "$@"
  elif [ -n "$EXAMPLE_SHOWS_AN_ERROR" ]; then
    local status=0
    command curl --fail-with-body "$@" || status=$?
    if [ "$status" -eq 22 ]; then echo; return 0; fi
    if [ "$status" -eq 0 ]; then echo "docs example: this curl was to get an HTTP error and succeeded" >&2; return 1; fi
    return "$status"
  else
    echo "docs example: curl without -f; use curl -fsS, or mark the block '<!-- example: shows an error -->'" >&2
    return 1
  fi
}
"""


@dataclass
class Example:
    path: Path
    line: int
    text: str
    shows_an_error: bool

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples_of(path: Path) -> list[Example]:
    found, lines = [], path.read_text().splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start, body = index, []
        index += 1
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1
        text = "\n".join(body)
        if match.group(1) in ("sh", "bash") and re.search(r"\bcurl\b", text):
            before = next((line for line in reversed(lines[:start]) if line.strip()), "")
            found.append(Example(path, start + 1, text, before.strip() == ERROR_MARK))
    return found


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WITH_EXAMPLES = [path for path in DOCS if examples_of(path)]


def run(example: Example, base: str) -> subprocess.CompletedProcess:
    script = PREAMBLE + example.text.replace("localhost:8080", base)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LC_ALL": "C.UTF-8"}
    if example.shows_an_error:
        env["EXAMPLE_SHOWS_AN_ERROR"] = "1"
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def sensorhub(redis_url, redis_cluster_mode, tmp_path_factory):
    env = {
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": "1" if redis_cluster_mode else "0",
        "WORKER": "0",
        "LOG_REQUESTS": "0",
        "API_KEYS": "",
        "API_KEYS_FILE": "",
        # docs/api.md registers a webhook receiver on this machine, and says so.
        "WEBHOOK_ALLOW_PRIVATE": "1",
    }
    server = GunicornServer(env, workers=1, log_path=tmp_path_factory.mktemp("docs") / "gunicorn.log").start()
    yield server
    server.stop()


def test_readme_has_a_curl_session():
    assert ROOT / "README.md" in WITH_EXAMPLES


@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=lambda path: str(path.relative_to(ROOT)))
def test_curl_examples_run_as_written(path, sensorhub, clean_redis):
    base = sensorhub.url.removeprefix("http://")
    for example in examples_of(path):
        done = run(example, base)
        assert done.returncode == 0, (
            f"the example at {example.where()} failed (exit {done.returncode}):\n{example.text}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
