"""Hostile clients at the transport level, against a real gunicorn.

Slow request bodies cost their sender's connection slots, not everyone's;
bodies are read whole within their framing (never cut short and parsed);
gunicorn's own refusals use the JSON error shape.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib

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


def test_a_refusal_says_connection_close_and_carries_the_request_id(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-ID: gw-1.b-7\r\n"
                     b"Content-Length: %d\r\n\r\n[" % (MAX_BODY * 10))
        status, headers, raw = _answer(sock)
        closed = sock.recv(1) == b""
    assert status == 413 and closed
    assert headers["Connection"] == "close"
    assert headers["X-Request-ID"] == json.loads(raw)["request_id"] == "gw-1.b-7"
    response = requests.post(f"{server.url}/data", data=b"[]", timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": "br"})
    assert response.status_code == 415 and response.headers["Connection"] == "close"
    assert response.headers["X-Request-ID"] == response.json()["request_id"]


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


def _batch(sensor: str, count: int) -> tuple[bytes, float]:
    """``count`` readings of ``sensor`` (values 0.25 apart) as a JSON array, and their exact mean."""
    values = [0.25 * n for n in range(count)]
    readings = [
        {"sensor": sensor, "timestamp": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z", "value": value}
        for n, value in enumerate(values)
    ]
    return json.dumps(readings).encode(), sum(values) / count


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "coding, compress",
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate)],
    ids=["gzip", "x-gzip", "deflate (zlib)", "deflate (raw)"],
)
def test_a_compressed_batch_is_accepted_with_exact_statistics(server, coding, compress):
    sensor = f"coded-{coding}-{compress.__name__}"
    body, mean = _batch(sensor, 40)
    assert len(body) < MAX_BODY
    response = requests.post(f"{server.url}/data", data=compress(body), timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": coding})
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 40, "duplicates": 0}
    statistics = requests.get(f"{server.url}/statistics/{sensor}", timeout=5).json()
    assert statistics["count"] == 40 and statistics["avg"] == mean


def test_gzip_members_one_after_another_make_one_body(server):
    body, _ = _batch("coded-members", 10)
    half = body.index(b"}, {") + 1
    response = requests.post(f"{server.url}/data", data=gzip.compress(body[:half]) + gzip.compress(body[half:]),
                             headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 200 and response.json() == {"accepted": 10, "duplicates": 0}


@pytest.mark.parametrize(
    "coding, payload",
    [
        ("gzip", gzip.compress(b"[" + _reading(3) + b"]")[:-12]),
        ("gzip", b"[" + _reading(3) + b"]"),
        ("deflate", zlib.compress(b"[" + _reading(3) + b"]")[:-6]),
        ("deflate", zlib.compress(b"[" + _reading(3) + b"]") + b"junk"),
    ],
    ids=["truncated gzip", "not gzip at all", "truncated deflate", "junk after deflate"],
)
def test_a_truncated_or_corrupt_compressed_body_is_400_and_writes_nothing(server, coding, payload):
    response = requests.post(f"{server.url}/data", data=payload, timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": coding})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and f"not valid {coding} data" in body["message"]
    _nothing_written(server)


def _gzipped_zeros(total: int):
    """``total`` zero bytes gzipped, generated piece by piece (never whole in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    piece = bytes(1 << 20)
    for _ in range(total // len(piece)):
        yield compressor.compress(piece)
    yield compressor.flush()


def test_a_gzip_bomb_is_413_after_reading_at_most_max_body_bytes_of_it(server):
    """1 GB of zeros in about 1 MB of gzip, sent chunked: refused once
    MAX_BODY_BYTES have come out of it, long before the sender is done."""
    with _connect(server) as sock:
        sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0

        def send_bomb():
            nonlocal sent
            try:
                for piece in _gzipped_zeros(1 << 30):
                    if piece:
                        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                        sent += len(piece)
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server closed its side: the answer is already there

        sender = threading.Thread(target=send_bomb, daemon=True)
        started = time.monotonic()
        sender.start()
        status, _, raw = _answer(sock)
        answered_after = time.monotonic() - started
    sender.join(30)
    assert status == 413
    assert "decompresses to more than" in json.loads(raw)["message"]
    assert answered_after < 5
    # The answer came while most of the bomb was still unsent: it was never read whole.
    assert sent < 1 << 20
    _nothing_written(server)


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, gzip", "compress"])
def test_an_unknown_coding_is_415_naming_the_accepted_ones(server, coding):
    response = requests.post(f"{server.url}/data", data=b"[" + _reading(4) + b"]", timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": coding})
    assert response.status_code == 415
    message = response.json()["message"]
    assert repr(coding) in message and "gzip" in message and "deflate" in message
    _nothing_written(server)


def test_identity_coding_is_the_plain_body(server):
    body, _ = _batch("coded-identity", 3)
    response = requests.post(f"{server.url}/data", data=body, timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": "identity"})
    assert response.status_code == 200 and response.json()["accepted"] == 3
