"""Scenarios of HotScript in a gevent-patched process, as gunicorn's gevent
workers run it; ``tests/test_redisdb.py`` runs this file in a child
process (monkey-patching the test process itself would change every other
test) and checks the JSON it prints.

    python tests/gevent_hot_script.py <redis url>
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

from service.redisdb.roundtrips import HotScript  # noqa: E402

# Echoes its key and argument; fails for the argument "fail".
ECHO = """
if ARGV[1] == 'fail' then return redis.error_reply('refused: ' .. KEYS[1]) end
return {KEYS[1], ARGV[1]}
"""
# Holds Redis for a while, so a call is surely in flight.
SLOW = "local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - s > 200000 return 1"


def concurrently(hot, count: int, argument=lambda n: f"arg{n}"):
    """``count`` greenlets each calling ``hot`` at once; their outcomes in order."""

    def one(n):
        try:
            return [value.decode() for value in hot([f"hot:{{{n}}}"], [argument(n)])]
        except redis.exceptions.ResponseError as error:
            return f"error: {error}"

    calls = [gevent.spawn(one, n) for n in range(count)]
    gevent.joinall(calls, raise_error=True)
    return [call.value for call in calls]


def expected(count: int):
    return [[f"hot:{{{n}}}", f"arg{n}"] for n in range(count)]


def main(url: str) -> dict:
    client = redis.Redis.from_url(url, socket_timeout=5)
    hot = HotScript(client, client.register_script(ECHO))
    shared = hot._shared
    found = {"shared": shared is not None}

    trips = shared.round_trips
    found["lone_answer"] = hot(["hot:{lone}"], ["only"]) == [b"hot:{lone}", b"only"]
    found["lone_round_trips"] = shared.round_trips - trips

    trips = shared.round_trips
    found["concurrent_correct"] = concurrently(hot, 50) == expected(50)
    found["concurrent_round_trips"] = shared.round_trips - trips

    outcomes = concurrently(hot, 5, lambda n: "fail" if n == 2 else f"arg{n}")
    found["error_only_for_its_caller"] = (
        outcomes[2] == "error: refused: hot:{2}" and [o for i, o in enumerate(outcomes) if i != 2] == [
            e for i, e in enumerate(expected(5)) if i != 2
        ]
    )
    connection = shared._connection
    found["connection_kept_after_error_reply"] = concurrently(hot, 3) == expected(3) and shared._connection is connection

    client.script_flush()
    found["after_script_flush_correct"] = concurrently(hot, 20) == expected(20)

    # Every client connection but this one is closed: the shared one too.
    client.client_kill_filter(_type="normal", skipme=True)
    found["after_connection_lost_correct"] = concurrently(hot, 20) == expected(20)
    found["reconnected_correct"] = concurrently(hot, 20) == expected(20) and shared._connection is not None

    # The leading caller is killed while its round trip is in flight.
    slow = HotScript(client, client.register_script(SLOW))
    leader = gevent.spawn(slow, ["hot:{slow}"], [])
    followers = [gevent.spawn(slow, ["hot:{slow}"], []) for _ in range(3)]
    gevent.sleep(0.05)
    leader.kill()
    gevent.joinall(followers, raise_error=True)
    found["followers_answered_after_leader_killed"] = [f.value for f in followers] == [1, 1, 1]
    found["usable_after_leader_killed"] = concurrently(hot, 10) == expected(10)

    # A neighbour that always has work keeps the loop from ever being idle,
    # as requests of other routes do in a busy worker.
    busy = True

    def neighbour():
        while busy:
            gevent.sleep(0)

    spinning = gevent.spawn(neighbour)
    gevent.sleep(0)
    try:
        with gevent.Timeout(5):
            found["answered_beside_a_busy_neighbour"] = concurrently(hot, 10) == expected(10)
    except gevent.Timeout:
        found["answered_beside_a_busy_neighbour"] = False
    busy = False
    spinning.join()
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
