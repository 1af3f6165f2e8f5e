"""Restore of a tenant into a new standby tenant at a point in time (DESIGN 4): the plan
and its refusals, the baseline from a backup set, the parallel incremental pipeline over
archived log, and verification."""
