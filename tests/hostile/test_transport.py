"""Hostile clients at the transport level, against a real gunicorn.

Slow request bodies cost their sender's connection slots, not everyone's;
bodies are read whole within their framing (never cut short and parsed);
gunicorn's own refusals use the JSON error shape.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.servers import GunicornServer

pytestmark = pytest.mark.slow

MAX_BODY = 4096


@pytest.fixture(scope="module")
def server(redis_url, redis_cluster_mode, tmp_path_factory):
    started = GunicornServer(
        {"REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0", "WORKER": "0",
         "LOG_REQUESTS": "0", "MAX_BODY_BYTES": str(MAX_BODY), "BODY_TIMEOUT": "3"},
        workers=2, log_path=tmp_path_factory.mktemp("transport") / "gunicorn.log",
    ).start()
    yield started
    started.stop()


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("Content-Length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _post_raw(server, head: str, body: bytes = b"", half_close: bool = False) -> tuple[int, dict, dict]:
    with _connect(server) as sock:
        sock.sendall(head.encode("latin-1") + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        status, headers, raw = _answer(sock)
    return status, headers, json.loads(raw)


def _reading(n: int) -> bytes:
    return b'{"sensor":"frame","timestamp":"2024-01-01T00:%02d:%02dZ","value":1}' % divmod(n, 60)


def _nothing_written(server) -> None:
    assert requests.get(f"{server.url}/statistics/frame", timeout=5).json()["count"] == 0


def test_a_chunked_body_over_the_limit_is_413_not_cut_short_and_parsed(server):
    array = b"[" + b",".join(_reading(n) for n in range(100)) + b"]"
    assert len(array) > MAX_BODY
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(array[i:i + 1000]), array[i:i + 1000]) for i in range(0, len(array), 1000))
    status, _, body = _post_raw(
        server,
        "POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunks + b"0\r\n\r\n",
    )
    assert status == 413 and "MAX_BODY_BYTES" in body["message"]
    _nothing_written(server)


def test_a_valid_array_followed_by_junk_past_the_limit_is_refused(server):
    array = b"[" + _reading(1) + b"]"
    payload = array + b" " * (MAX_BODY - len(array)) + b"junk"
    chunks = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    status, _, body = _post_raw(
        server,
        "POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunks,
    )
    assert status == 413, body
    _nothing_written(server)


def test_a_content_length_over_the_limit_is_413_before_the_body_is_read(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n[" % (MAX_BODY * 10))
        status, _, raw = _answer(sock)
        # The rest of the body is never waited for: the connection is closed.
        closed = sock.recv(1) == b""
    assert status == 413 and json.loads(raw)["code"] == 413
    assert closed


def test_a_body_shorter_than_its_content_length_is_400_not_parsed(server):
    array = b"[" + _reading(2) + b"]"
    status, _, body = _post_raw(
        server,
        f"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(array) + 50}\r\n\r\n",
        array, half_close=True,
    )
    assert status == 400 and "Content-Length" in body["message"]
    _nothing_written(server)


def test_a_body_that_does_not_arrive_in_time_is_408(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
        started = time.monotonic()
        status, _, raw = _answer(sock)
    assert status == 408 and json.loads(raw)["code"] == 408
    assert 2 < time.monotonic() - started < 10


@pytest.mark.parametrize(
    "request_line, status",
    [
        ("GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 9000 + "\r\n\r\n", 431),
        ("BR@KEN / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
    ids=["uri too long", "header too large", "bad request line"],
)
def test_gunicorns_own_refusals_use_the_json_error_shape(server, request_line, status):
    with _connect(server) as sock:
        sock.sendall(request_line.encode())
        answered, headers, raw = _answer(sock)
    assert answered == status
    assert headers["Content-Type"] == "application/json"
    body = json.loads(raw)
    assert body["code"] == status and body["message"]


def _still_held(sock: socket.socket) -> bool:
    """No answer yet and not closed: the server is still receiving the body."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def test_slow_body_senders_do_not_starve_probes_or_reads(redis_url, redis_cluster_mode, tmp_path):
    """More slow uploads from one address than the instance has connection
    slots (2 workers x 64): probes and reads are answered while the slow
    uploads are still held open (old code: not at all while they stay)."""
    server = GunicornServer({"REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0", "WORKER": "0",
                             "LOG_REQUESTS": "0", "BODY_TIMEOUT": "60"},
                            workers=2, log_path=tmp_path / "gunicorn.log").start()
    senders: list[socket.socket] = []
    try:
        for _ in range(160):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n[")
            senders.append(sock)
        time.sleep(0.5)
        for path, expected in (("/livez", 204), ("/healthz", 204), ("/statistics/nobody", 200)):
            assert requests.get(f"{server.url}{path}", timeout=10).status_code == expected, path
        held = sum(_still_held(sock) for sock in senders)
        # MAX_BODY_READS_PER_CLIENT (8) per worker that took some of them are
        # still being received (how the 2 workers split them varies); the
        # rest were refused (429) at once.
        assert 8 <= held <= 2 * 8, held
    finally:
        for sock in senders:
            sock.close()
        server.stop()
