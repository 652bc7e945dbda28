"""The reference model of the engine (see `chimney.sw.refmodel`)."""

from .engine import RefEngine, DmaFault
from .memory import SimpleHostMemory
from .tables import Meta, PoolEntry, Tables

__all__ = ["RefEngine", "DmaFault", "SimpleHostMemory", "Meta", "PoolEntry", "Tables"]
