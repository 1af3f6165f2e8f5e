"""Event stores: where histories live. Imports the core, never the reverse."""

from ybstate.store.base import EventStore
from ybstate.store.duck import DuckDBStore
from ybstate.store.memory import MemoryStore

__all__ = ["EventStore", "DuckDBStore", "MemoryStore"]
