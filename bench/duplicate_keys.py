"""Cost of the repeated-JSON-key check on POST /data bodies.

Compares, per body, orjson parsing with the quote-count check that
``service.jsonio.reject_duplicate_keys`` runs on a valid batch.

    PYTHONPATH=. .venv/bin/python bench/duplicate_keys.py --items 10000
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.jsonio import reject_duplicate_keys  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    items = [
        {"sensor": f"s-{i % 1000}", "timestamp": f"2024-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "value": i * 0.5}
        for i in range(args.items)
    ]
    raw = orjson.dumps(items)
    parse = min(timeit.repeat(lambda: orjson.loads(raw), number=1, repeat=args.repeat))
    check = min(timeit.repeat(lambda: reject_duplicate_keys(raw, 5 * args.items), number=1, repeat=args.repeat))
    print(f"body {len(raw)} bytes, {args.items} items (best of {args.repeat})")
    print(f"orjson.loads: {parse * 1e3:.3f} ms; duplicate-key check: {check * 1e3:.3f} ms ({100 * check / parse:.1f} % of parsing)")


if __name__ == "__main__":
    main()
