"""History that lasts: per-sensor rollup tiers (ROLLUPS), answered with the
raw readings for any range, and exported."""
