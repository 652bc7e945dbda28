"""The driver's lower edge: the only two things it needs from a platform.

A `Device` is a register window plus an interrupt line; a `HostMemory` is a pool
of DMA-able memory. Backends: the reference model (`chimney.sw.refmodel`), cocotb
(`chimney.tb.backend`) and Amaranth-sim (`chimney.tb.amaranth_backend`). The
driver awaits these coroutines and never imports a simulator.
"""

from dataclasses import dataclass
from typing import Protocol


class DeviceTimeout(Exception):
    """The device did not answer (no interrupt, no register response) in time."""


async def wait_irq_within(device, ns) -> bool:
    """Wait up to `ns` for the interrupt line: True once it is high, False when the time
    passed. With the interrupt masked it is a bounded pause that needs nothing but the
    Device protocol (a simulator's time passes; the model has none)."""
    try:
        await device.wait_irq(ns)
    except DeviceTimeout:
        return False
    return True


class BusError(Exception):
    """A register access was answered with an error response (SLVERR/DECERR)."""


class Device(Protocol):
    async def read32(self, offset: int) -> int: ...
    async def write32(self, offset: int, value: int) -> None: ...

    async def wait_irq(self, timeout_ns: int) -> None:
        """Return once the interrupt line is high; raise DeviceTimeout otherwise."""

    def irq_level(self) -> bool: ...


@dataclass(frozen=True)
class Region:
    addr: int
    size: int


class HostMemory(Protocol):
    def alloc(self, size: int, align: int = 64) -> Region: ...
    def free(self, region: Region) -> None: ...
    def read(self, addr: int, length: int) -> bytes: ...
    def write(self, addr: int, data: bytes) -> None: ...


class BumpAllocator:
    """First-fit allocator over [base, base+size) with frees; shared by the backends."""

    def __init__(self, base: int, size: int):
        self.base = base
        self.size = size
        self._free = [(base, base + size)]
        self._used = {}

    def alloc(self, size: int, align: int = 64) -> Region:
        size = max(size, 1)
        for i, (lo, hi) in enumerate(self._free):
            start = -(-lo // align) * align
            if start + size <= hi:
                pieces = [(lo, start)] if start > lo else []
                if start + size < hi:
                    pieces.append((start + size, hi))
                self._free[i:i + 1] = pieces
                self._used[start] = size
                return Region(start, size)
        raise MemoryError(f"host memory exhausted allocating {size} bytes")

    def free(self, region: Region) -> None:
        size = self._used.pop(region.addr)
        self._free.append((region.addr, region.addr + size))
        self._free.sort()
        merged = []
        for lo, hi in self._free:
            if merged and merged[-1][1] == lo:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        self._free = merged
