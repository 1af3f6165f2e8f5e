"""Drivers of any Spec: the exhaustive explorer (explore) and the seeded simulator (simulate)."""
