"""Continuous per-tenant log archiving (DESIGN 3.2): archivers read the shared commit log,
keep their tenant's entries in pieces, and persist checkpoints; crashes lose only what is
in memory. Pure. See ybstate/archive/state.py for the protocol in brief."""

__all__: list[str] = []
