"""cocotb backends for the driver: a register window and a host memory.

`CocotbDevice` is `chimney.sw.bus.Device` over cocotbext-axi's AxiLiteMaster;
`CocotbHostMemory` is `chimney.sw.bus.HostMemory` over an AxiRam that answers the
engine's DMA master. The driver sees only the two protocols.
"""

import logging
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer, with_timeout, SimTimeoutError, ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiBus, AxiSlave, AxiResp

from chimney.sw.bus import BusError, DeviceTimeout, BumpAllocator
from chimney.tb.env import ports

# The port names come from chimney.tb.env.ports(): the engine's own (clk, rst, csr__*, dma__*)
# or the vendor wrapper's (aclk, aresetn, s_axil_*, m_axi_*).


def clock(dut):
    return getattr(dut, ports().clk)


def _reset(dut):
    p = ports()
    return getattr(dut, p.rst), p.rst_active_high

CLOCK_NS = 10


class CocotbDevice:
    def __init__(self, dut, *, timeout_ns=100_000):
        self.dut = dut
        self.timeout_ns = timeout_ns
        p = ports()
        bus = AxiLiteBus.from_prefix(dut, p.csr, bus_separator=p.sep, case_insensitive=False)
        rst, high = _reset(dut)
        self.axil = AxiLiteMaster(bus, clock(dut), rst, reset_active_level=high)
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


class _BusTarget:
    """What the AXI subordinate sees: the host memory, with error ranges that answer SLVERR."""

    def __init__(self, owner):
        self.owner = owner

    async def read(self, address, length):
        self.owner._check(address, length, write=False)
        return self.owner.read(address, length)

    async def write(self, address, data):
        self.owner._check(address, len(data), write=True)
        self.owner.write(address, data)


class CocotbHostMemory:
    """Host RAM behind the engine's DMA port (an AXI4 subordinate from cocotbext-axi).

    Address 0 .. 4 KiB is never allocated, so 0 stays an invalid pointer. `fail()` makes
    a range answer SLVERR (reads, writes or both; reads may answer DECERR instead);
    `pause()` adds random back-pressure on every AXI channel."""

    def __init__(self, dut, *, size=1 << 24):
        p = ports()
        bus = AxiBus.from_prefix(dut, p.dma, bus_separator=p.sep, case_insensitive=False)
        self.size = size
        self.mem = bytearray(size)
        rst, high = _reset(dut)
        self.axi = AxiSlave(bus, clock(dut), rst, reset_active_level=high, target=_BusTarget(self))
        for side in (self.axi.write_if, self.axi.read_if):
            side.log.setLevel(logging.ERROR)
        self.alloc_ = BumpAllocator(0x1000, size - 0x1000)
        self.faults = []               # (lo, hi, on_read, on_write, read resp)
        self.errors_answered = 0
        self._read_resp = AxiResp.SLVERR
        self._answer_read_resp()

    def _answer_read_resp(self):
        """AxiSlave answers every failed read beat SLVERR; this gives the beat the failing
        range's response instead (it reads each beat from the target just before sending it)."""
        r_channel = self.axi.read_if.r_channel
        send = r_channel.send

        async def send_with_resp(r):
            if int(r.rresp):
                r.rresp = self._read_resp
            await send(r)
        r_channel.send = send_with_resp

    def fail(self, lo, hi, *, read=True, write=True, resp=AxiResp.SLVERR):
        """Accesses touching [lo, hi) fail: reads answer `resp` (SLVERR or DECERR), writes SLVERR."""
        self.faults.append((lo, hi, read, write, AxiResp(resp)))

    def clear_faults(self):
        self.faults.clear()

    def _check(self, address, length, write):
        for lo, hi, on_read, on_write, resp in self.faults:
            if address < hi and address + length > lo and (on_write if write else on_read):
                self.errors_answered += 1
                self._read_resp = resp
                raise IOError(f"{'write' if write else 'read'} {address:#x} in a failing range")
        if address + length > self.size:
            self._read_resp = AxiResp.SLVERR
            raise IOError(f"access {address:#x} outside host memory")

    def reset(self):
        """Forget every allocation, zero the memory, clear faults (between campaign runs)."""
        self.mem[:] = bytes(self.size)
        self.alloc_ = BumpAllocator(0x1000, self.size - 0x1000)
        self.faults.clear()

    def pause(self, probability, seed=1):
        """Random stalls: `probability` for every channel, or a dict {"aw": p, ..., "r": p}."""
        rng = random.Random(seed)
        channels = {"aw": self.axi.write_if.aw_channel, "w": self.axi.write_if.w_channel,
                    "b": self.axi.write_if.b_channel, "ar": self.axi.read_if.ar_channel,
                    "r": self.axi.read_if.r_channel}

        def gen(p):
            while True:
                yield rng.random() < p
        for name, ch in channels.items():
            p = probability.get(name, 0.0) if isinstance(probability, dict) else probability
            ch.set_pause_generator(gen(p))

    def alloc(self, size, align=64):
        return self.alloc_.alloc(size, align)

    def free(self, region):
        self.alloc_.free(region)

    def read(self, addr, length):
        return bytes(self.mem[addr:addr + length])

    def write(self, addr, data):
        self.mem[addr:addr + len(data)] = bytes(data)


async def start(dut, *, reset_cycles=5, monitors=True):
    """Start the clock (once per cocotb test), the AXI protocol monitors on the CSR and
    DMA ports (chimney.tb.axi_monitor: the test fails at the first violation), and
    reset the engine."""
    cocotb.start_soon(Clock(clock(dut), CLOCK_NS, unit="ns").start())
    if monitors:
        from chimney.tb.axi_monitor import start_cocotb_monitors
        from chimney.tb.env import params_from_env
        start_cocotb_monitors(dut, params_from_env())
    await reset(dut, reset_cycles=reset_cycles)


async def reset(dut, *, reset_cycles=5):
    """Hold reset for a few cycles; returns once it is released."""
    rst, high = _reset(dut)
    rst.value = int(high)
    await ClockCycles(clock(dut), reset_cycles)
    rst.value = int(not high)
    await RisingEdge(clock(dut))
