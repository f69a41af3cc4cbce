"""Redis Cluster hash slots: script calls grouped so that each one's keys share a slot."""

from __future__ import annotations

from redis.crc import key_slot


def slot_groups(items, key_of, cluster: bool, size_of=None, limit: int | None = None) -> list[list]:
    """``items`` split into the groups of script calls, in order.

    On a Redis Cluster the keys of a group (``key_of(item)``) share one hash
    slot, as a script's keys must; on a single Redis any items go together.
    With ``limit``, a group is closed once the ``size_of`` of its items
    reaches it, so that no script holds Redis long.
    """
    groups: list[list] = []
    open_groups: dict[int, list] = {}
    sizes: dict[int, int] = {}
    for item in items:
        slot = key_slot(key_of(item).encode()) if cluster else 0
        group = open_groups.get(slot)
        if group is None or (limit is not None and sizes[slot] >= limit):
            group = open_groups[slot] = []
            sizes[slot] = 0
            groups.append(group)
        group.append(item)
        if limit is not None:
            sizes[slot] += size_of(item)
    return groups
