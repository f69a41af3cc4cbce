"""Batches and reads in one gevent-patched process, as gunicorn's gevent
workers serve them; ``tests/readings/test_batch_turns.py`` runs this file in
a child process (patching the test process would change every other test)
and checks the JSON it prints.

    python tests/gevent_batch_turns.py <redis url> <cluster 0|1>
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from service.app import create_app  # noqa: E402
from service.readings import routes  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.transport import let_others_run  # noqa: E402

events: list[str] = []

# The helper alone: a greenlet made ready runs at the call.
ran = []
gevent.spawn(ran.append, True)
let_others_run()
helper_yields = ran == [True]

settings = Settings(redis_url=sys.argv[1], redis_cluster=sys.argv[2] == "1", log_requests=False, log_level="WARNING")
app = create_app(settings)
client = app.test_client()
checking = routes.parse_batch


def recorded_parse(*args, **kwargs):
    events.append("batch checked")
    return checking(*args, **kwargs)


routes.parse_batch = recorded_parse
body = [{"sensor": f"turns-{n}", "timestamp": "2026-11-30T10:00:00Z", "value": n} for n in range(50)]


def post():
    events.append("batch received")
    answer = client.post("/data", json=body)
    events.append(f"batch answered {answer.status_code}")


def read():
    events.append("read started")
    answer = client.get("/statistics/turns-1")
    events.append(f"read answered {answer.status_code}")


batch = gevent.spawn(post)
reader = gevent.spawn(read)  # ready while the batch is being worked on
gevent.joinall([batch, reader], timeout=30)
print(json.dumps({"helper_yields": helper_yields, "events": events}))
