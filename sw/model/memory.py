"""A plain host memory for the reference model: a bytearray plus `BumpAllocator`.

It implements `chimney.sw.bus.HostMemory`. Address 0 .. `base` is never handed out,
so a zero address always means "no buffer" (the engine refuses it with BAD_ADDRESS).
Reads and writes outside the array raise `IndexError`; the engine turns that into a
DMA error (DECERR), like an AXI interconnect with nothing behind the address.
"""

from chimney.sw.bus import BumpAllocator, Region


class SimpleHostMemory:
    def __init__(self, size=1 << 22, base=0x1000):
        self.data = bytearray(size)
        self.size = size
        self._alloc = BumpAllocator(base, size - base)

    def alloc(self, size, align=64) -> Region:
        return self._alloc.alloc(size, align)

    def free(self, region: Region) -> None:
        self._alloc.free(region)

    def _check(self, addr, length):
        if addr < 0 or length < 0 or addr + length > self.size:
            raise IndexError(f"host memory access [{addr:#x}, +{length}) outside [0, {self.size:#x})")

    def read(self, addr, length) -> bytes:
        self._check(addr, length)
        return bytes(self.data[addr:addr + length])

    def write(self, addr, data) -> None:
        data = bytes(data)
        self._check(addr, len(data))
        self.data[addr:addr + len(data)] = data
