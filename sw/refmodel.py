"""The reference model of the engine: `RefEngine(params, memory)`.

A pure-Python, transaction-level model implementing docs/interface.md; it is a
`chimney.sw.bus.Device`, so the driver runs on it unchanged. The implementation lives
in `chimney.sw.model` (engine.py: commands, rings, scrubber; tables.py: the ECC
memories; memory.py: a plain host memory).
"""

from .model import RefEngine, DmaFault, SimpleHostMemory, Meta, PoolEntry

__all__ = ["RefEngine", "DmaFault", "SimpleHostMemory", "Meta", "PoolEntry"]
