"""Series points of whole history chunks, rendered once and kept.

Answered from the chunks, a long series in a tier's own buckets (a year of
hourly points: 8,760) costs about 10 µs a point in the web worker:
decoding each bucket, its mean in the asked unit, its instant, its JSON.
A chunk changes rarely (once an hour at the seal, and for a late reading),
so its points are rendered once per unit and kept in the web process, in a
least-recently-used cache bounded in bytes (``SERIES_CACHE_MB``). Each use
checks the copy against the chunk's version (``keys.ROLLUP_VERSION_FIELD``,
which ``rollup.lua`` chains over every write and the series reads with its
other replies), so a copy is never used once its chunk changed, whichever
replica changed it.

A process that has no copy first looks for one another process rendered:
each rendered chunk is also kept in Redis beside its chunk
(``keys.sensor_rendered_chunk``, compressed, for ``SHARED_SECONDS``), so a
chunk is rendered about once per version in the whole deployment rather
than once per process.
"""

from __future__ import annotations

import struct
import threading
import zlib
from array import array
from bisect import bisect_left
from typing import NamedTuple

import orjson
from cachetools import LRUCache

# How long a rendered chunk stays in Redis after it was rendered (about 9 KB
# of JSON for a chunk of 120 hourly points, some 1.5 KB compressed).
SHARED_SECONDS = 86400
_COUNT = struct.Struct("<H")
# Bytes of a kept chunk beyond its points' JSON: the entry, its key, the
# two arrays (8 bytes a point each).
_ENTRY_OVERHEAD = 400


class RenderedChunk(NamedTuple):
    """One chunk's points as JSON, in time order, joined by commas:
    ``starts`` holds each point's bucket start, ``ends`` where its JSON
    ends in ``joined``."""

    version: bytes
    starts: array
    ends: array
    joined: bytes

    @classmethod
    def of(cls, version: bytes, points: list[tuple[int, bytes]]) -> RenderedChunk:
        """The chunk of ``points``: (bucket start, its JSON) in time order."""
        ends, at = array("q"), -1
        for _, point in points:
            at += len(point) + 1
            ends.append(at)
        return cls(version, array("q", [start for start, _ in points]), ends, b",".join(point for _, point in points))

    def packed(self) -> bytes:
        """The form kept in Redis (``unpacked`` reads it)."""
        return zlib.compress(b"".join((self.version, b"\0", _COUNT.pack(len(self.starts)), self.starts.tobytes(),
                                       self.ends.tobytes(), self.joined)), 1)

    @classmethod
    def unpacked(cls, packed: bytes) -> RenderedChunk:
        data = zlib.decompress(packed)
        cut = data.index(b"\0")
        (count,) = _COUNT.unpack_from(data, cut + 1)
        at = cut + 1 + _COUNT.size
        starts, ends = array("q"), array("q")
        starts.frombytes(data[at : at + 8 * count])
        ends.frombytes(data[at + 8 * count : at + 16 * count])
        return cls(data[:cut], starts, ends, data[at + 16 * count :])

    def between(self, start_us: int, end_us: int) -> list:
        """The points of the buckets starting in [start, end): one orjson
        fragment (spliced into the answer as it is), or none."""
        first, last = bisect_left(self.starts, start_us), bisect_left(self.starts, end_us)
        if first >= last:
            return []
        begin = self.ends[first - 1] + 1 if first else 0
        return [orjson.Fragment(self.joined[begin : self.ends[last - 1]] if first or last < len(self.ends) else self.joined)]


def kept_bytes(chunk: RenderedChunk) -> int:
    return _ENTRY_OVERHEAD + len(chunk.joined) + 16 * len(chunk.starts)


class RenderedChunks:
    """Rendered chunks by (sensor, tier seconds, generation, chunk, unit);
    ``max_bytes`` 0 keeps none."""

    def __init__(self, max_bytes: int):
        self._cache = LRUCache(maxsize=max_bytes, getsizeof=kept_bytes) if max_bytes > 0 else None
        # cachetools' caches are not thread-safe (gthread workers).
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether rendered chunks are kept (SERIES_CACHE_MB above 0), here and in Redis."""
        return self._cache is not None

    def get(self, key: tuple, version: bytes | None) -> RenderedChunk | None:
        """The kept copy of the chunk if it is of ``version``."""
        if self._cache is None or version is None:
            return None
        with self._lock:
            found = self._cache.get(key)
        return found if found is not None and found.version == version else None

    def put(self, key: tuple, chunk: RenderedChunk) -> None:
        if self._cache is None or not chunk.version:
            return
        with self._lock:
            try:
                self._cache[key] = chunk
            except ValueError:  # larger than the whole cache
                pass
