"""The system of record's client side, by concern.

- ``connection``: the client (standalone or cluster), its timeouts, and the
  errors that mean Redis is not answering (answered 503);
- ``scripts``: Lua scripts: their text, their registry, and ``ScriptBatch``
  (one round trip of commands and script calls that survives NOSCRIPT);
- ``slots``: grouping script calls by Redis Cluster hash slot;
- ``roundtrips``: ``HotScript``, concurrent calls of one hot read sharing a
  round trip under gevent.
"""
