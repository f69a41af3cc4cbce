"""What waiting on another process costs on this machine.

Two processes pass one byte back and forth over a socket pair, the way a
worker waits for Redis' reply: each side sleeps in ``recv`` until the other
has sent. Reports per round trip the wall time and the CPU time of the side
that measures (its system calls, and the sleep and wake-up they include),
and, for comparison, a send and a receive when the data is already there
(no sleep). On bare metal a round trip takes a few microseconds; in a
virtual machine each wake-up may cross the hypervisor.

    python bench/wakeup.py [--round-trips 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import time


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _per_round_trip(send, receive, round_trips: int) -> dict:
    """Wall and CPU microseconds of one ``send(); receive()``."""
    cpu, started = _cpu(), time.perf_counter()
    for _ in range(round_trips):
        send(b"x")
        receive(16)
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    return {"wall_us": round(wall / round_trips * 1e6, 1), "cpu_us": round(cpu / round_trips * 1e6, 1)}


def ping_pong(round_trips: int) -> dict:
    """With a peer that sleeps until the byte comes, and sends it back."""
    mine, theirs = socket.socketpair()
    peer = os.fork()
    if peer == 0:
        mine.close()
        while data := theirs.recv(16):
            theirs.send(data)
        os._exit(0)
    theirs.close()
    try:
        _per_round_trip(mine.send, mine.recv, 1000)  # warm-up
        return _per_round_trip(mine.send, mine.recv, round_trips)
    finally:
        mine.close()
        os.waitpid(peer, 0)


def no_wait(round_trips: int) -> dict:
    """The same system calls when the byte is already there: nobody sleeps."""
    mine, theirs = socket.socketpair()
    try:
        return _per_round_trip(theirs.send, mine.recv, round_trips)
    finally:
        mine.close()
        theirs.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=20000)
    args = parser.parse_args()
    result = {"with_a_sleeping_peer": ping_pong(args.round_trips), "data_already_there": no_wait(args.round_trips)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
