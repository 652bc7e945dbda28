"""cocotb backends for the driver: a register window and a host memory.

`CocotbDevice` is `chimney.sw.bus.Device` over cocotbext-axi's AxiLiteMaster;
`CocotbHostMemory` is `chimney.sw.bus.HostMemory` over an AxiRam that answers the
engine's DMA master. The driver sees only the two protocols.
"""

import logging

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer, with_timeout, SimTimeoutError, ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiBus, AxiRam

from chimney.sw.bus import BusError, DeviceTimeout, BumpAllocator

CLOCK_NS = 10


class CocotbDevice:
    def __init__(self, dut, *, timeout_ns=100_000):
        self.dut = dut
        self.timeout_ns = timeout_ns
        bus = AxiLiteBus.from_prefix(dut, "csr", bus_separator="__", case_insensitive=False)
        self.axil = AxiLiteMaster(bus, dut.clk, dut.rst)
        self.axil.write_if.log.setLevel(logging.WARNING)
        self.axil.read_if.log.setLevel(logging.WARNING)

    async def read32(self, offset):
        try:
            resp = await with_timeout(self.axil.read(offset, 4), self.timeout_ns, "ns")
        except SimTimeoutError as e:
            raise DeviceTimeout(f"CSR read {offset:#x}") from e
        if int(resp.resp):
            raise BusError(f"read {offset:#x}: response {int(resp.resp)}")
        return int.from_bytes(resp.data, "little")

    async def write32(self, offset, value):
        try:
            resp = await with_timeout(self.axil.write(offset, int(value).to_bytes(4, "little")),
                                      self.timeout_ns, "ns")
        except SimTimeoutError as e:
            raise DeviceTimeout(f"CSR write {offset:#x}") from e
        if int(resp.resp):
            raise BusError(f"write {offset:#x}: response {int(resp.resp)}")

    def irq_level(self):
        return bool(int(self.dut.irq.value))

    async def wait_irq(self, timeout_ns):
        if self.irq_level():
            return
        try:
            await with_timeout(RisingEdge(self.dut.irq), timeout_ns, "ns")
        except SimTimeoutError as e:
            raise DeviceTimeout(f"no interrupt within {timeout_ns} ns") from e


class CocotbHostMemory:
    """Host RAM behind the engine's DMA port. Address 0..4 KiB is never allocated."""

    def __init__(self, dut, *, size=1 << 24):
        bus = AxiBus.from_prefix(dut, "dma", bus_separator="__", case_insensitive=False)
        self.ram = AxiRam(bus, dut.clk, dut.rst, size=size)
        self.ram.write_if.log.setLevel(logging.WARNING)
        self.ram.read_if.log.setLevel(logging.WARNING)
        self.alloc_ = BumpAllocator(0x1000, size - 0x1000)

    def alloc(self, size, align=64):
        return self.alloc_.alloc(size, align)

    def free(self, region):
        self.alloc_.free(region)

    def read(self, addr, length):
        return bytes(self.ram.read(addr, length))

    def write(self, addr, data):
        self.ram.write(addr, bytes(data))


async def start(dut, *, reset_cycles=5):
    """Start the clock and reset the engine; returns once reset is released."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, reset_cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
