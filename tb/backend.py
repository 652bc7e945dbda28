"""cocotb backends for the driver: a register window and a host memory.

`CocotbDevice` is `chimney.sw.bus.Device` over cocotbext-axi's AxiLiteMaster;
`CocotbHostMemory` is `chimney.sw.bus.HostMemory` over an AxiRam that answers the
engine's DMA master. The driver sees only the two protocols.
"""

import logging
import os
import random
import warnings

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Edge, Event, ReadWrite, Timer, with_timeout, SimTimeoutError, ClockCycles
from cocotb.types import LogicArray
from cocotb.utils import get_sim_steps
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


class _Late(Exception):
    """An access passed its deadline (the access itself goes on in the background)."""


def _high(bits):
    """A 1-bit handshake signal sampled as a binary string; X/Z raise as bool(Logic) does."""
    if bits == "1":
        return True
    if bits == "0":
        return False
    raise ValueError(f"handshake signal is {bits}")


def _now():
    high, low = cocotb.simulator.get_sim_time()
    return high << 32 | low


class AxiLiteManager:
    """The CSR port's AXI4-Lite manager: pin for pin what cocotbext-axi's AxiLiteMaster
    drives for one 32-bit access at a time, in one coroutine per access instead of its
    seven per-channel coroutines, queues and events, and with the timeout checked at the
    clock edges it waits for anyway instead of a `with_timeout` task per access. A polled
    register read (4 cycles, Verilator) took 201 us of wall time with cocotbext-axi behind
    `with_timeout`, 91 us with this, against 66 us for four bare clock edges awaited.

    What it reproduces, edge for edge: AR (or AW and W together) is driven at the first
    rising edge after the call, each VALID held until the edge its READY is seen high and
    dropped there; RREADY and BREADY go high at the first edge after construction (and
    after a reset) and stay high; the response is taken at the first edge its VALID is
    high; payloads start as X; PROT is NONSECURE. The caller resumes in the ReadWrite phase
    of that edge's time step, after everything else the edge set off: cocotbext-axi hands
    the response on through several queue and event hops, and a driver that resumed
    earlier would read host memory before the AXI RAM's task of the same edge wrote it
    (a completion entry seen one poll later). A reset edge drops every VALID and READY
    and ends the access in flight (it returns None, as cocotbext-axi's flushed operations
    do). A timeout (`timeout` in simulator steps) raises `_Late` at the first edge at or
    after the deadline, before that edge is acted on, and the access goes on in the
    background from that edge, as cocotbext-axi's does behind a `with_timeout`. Accesses
    of one direction are taken one at a time: after a timed-out access the next one waits
    for it, where cocotbext-axi would queue its address behind the pending one."""

    PROT = 2                                  # AxiProt.NONSECURE, cocotbext-axi's default

    def __init__(self, dut, prefix, sep, clk, rst=None, reset_active_level=True):
        def h(name):
            return getattr(dut, f"{prefix}{sep}{name}")
        self.awaddr, self.awprot, self.awvalid, self.awready = (h(n) for n in ("awaddr", "awprot", "awvalid", "awready"))
        self.wdata, self.wstrb, self.wvalid, self.wready = (h(n) for n in ("wdata", "wstrb", "wvalid", "wready"))
        self.bresp, self.bvalid, self.bready = (h(n) for n in ("bresp", "bvalid", "bready"))
        self.araddr, self.arprot, self.arvalid, self.arready = (h(n) for n in ("araddr", "arprot", "arvalid", "arready"))
        self.rdata, self.rresp, self.rvalid, self.rready = (h(n) for n in ("rdata", "rresp", "rvalid", "rready"))
        assert len(self.wdata) == 32, "read32/write32 on a 32-bit AXI4-Lite port"
        from chimney.tb.axi_monitor import _binstr_reader
        self._awready, self._wready, self._bvalid, self._arready, self._rvalid = (
            _binstr_reader(h) for h in (self.awready, self.wready, self.bvalid, self.arready, self.rvalid))
        # the initial values as cocotbext-axi sets them: setimmediatevalue(), which in cocotb 2
        # keeps its 1.x timing (not Immediate: on Icarus that would show a cycle earlier)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for valid in (self.awvalid, self.wvalid, self.arvalid):
                valid.setimmediatevalue(0)
            for payload in (self.awaddr, self.awprot, self.wdata, self.wstrb, self.araddr, self.arprot):
                payload.setimmediatevalue(LogicArray("X" * len(payload)))
            for ready in (self.bready, self.rready):
                ready.setimmediatevalue(0)
        self._edge = RisingEdge(clk)
        self._settled = ReadWrite()
        self._gen = 0                         # bumped by every reset: ends the accesses in flight
        self._in_reset = False
        self._out_of_reset = Event()
        self._busy = {"r": None, "w": None}   # per direction: the Event its access sets when done
        cocotb.start_soon(self._ready_up(self._gen))
        if rst is not None:
            cocotb.start_soon(self._watch_reset(rst, bool(reset_active_level)))

    async def _ready_up(self, gen):
        await self._edge
        if gen == self._gen:
            self.bready.value = 1
            self.rready.value = 1

    async def _watch_reset(self, rst, active):
        while True:
            await Edge(rst)
            try:
                level = bool(int(rst.value))
            except ValueError:
                continue
            state = level == active
            if state == self._in_reset:
                continue
            self._in_reset = state
            self._gen += 1
            if state:
                for sig in (self.awvalid, self.wvalid, self.arvalid, self.bready, self.rready):
                    sig.value = 0
                self._out_of_reset.clear()
                for done in self._busy.values():
                    if done is not None:
                        done.set()
                self._busy = {"r": None, "w": None}
            else:
                self._out_of_reset.set()
                cocotb.start_soon(self._ready_up(self._gen))

    async def _access(self, side, body, timeout):
        while True:
            while self._in_reset:
                await self._out_of_reset.wait()
            if self._busy[side] is None:
                break
            await self._busy[side].wait()
        done = Event()
        self._busy[side] = done
        gen = self._gen
        state = [0, False, False, False]     # phase; an edge awaited, not acted on; AW, W pending
        try:
            return await body(gen, state, None if timeout is None else _now() + timeout)
        except _Late:
            cocotb.start_soon(self._background(side, body, gen, state, done))
            done = None
            raise
        finally:
            if done is not None:
                self._release(side, gen, done)

    async def _background(self, side, body, gen, state, done):
        try:
            await body(gen, state, None)
        finally:
            self._release(side, gen, done)

    def _release(self, side, gen, done):
        if gen == self._gen:
            self._busy[side] = None
        done.set()

    async def _edge_or_late(self, gen, state, deadline):
        """Wait for the next edge (unless one is pending); False if a reset came between."""
        if state[1]:
            state[1] = False
            return gen == self._gen
        await self._edge
        if gen != self._gen:
            return False
        if deadline is not None and _now() >= deadline:
            state[1] = True
            raise _Late
        return True

    def read(self, address, timeout=None):
        """One 32-bit read: (data, resp), or None if a reset ended it."""
        async def body(gen, st, deadline):
            while await self._edge_or_late(gen, st, deadline):
                if st[0] == 0:
                    self.araddr.value = address
                    self.arprot.value = self.PROT
                    self.arvalid.value = 1
                    st[0] = 1
                elif st[0] == 1:
                    if _high(self._arready()):
                        self.arvalid.value = 0
                        st[0] = 2
                elif _high(self._rvalid()):
                    got = int(self.rdata.value), int(self.rresp.value)
                    await self._settled
                    return got
            return None
        return self._access("r", body, timeout)

    def write(self, address, value, strb=0xF, timeout=None):
        """One 32-bit write: resp, or None if a reset ended it."""
        async def body(gen, st, deadline):
            while await self._edge_or_late(gen, st, deadline):
                if st[0] == 0:
                    self.awaddr.value = address
                    self.awprot.value = self.PROT
                    self.awvalid.value = 1
                    self.wdata.value = value
                    self.wstrb.value = strb
                    self.wvalid.value = 1
                    st[0], st[2], st[3] = 1, True, True
                elif st[0] == 1:
                    if st[2] and _high(self._awready()):
                        self.awvalid.value = 0
                        st[2] = False
                    if st[3] and _high(self._wready()):
                        self.wvalid.value = 0
                        st[3] = False
                    if not (st[2] or st[3]):
                        st[0] = 2
                elif _high(self._bvalid()):
                    got = int(self.bresp.value)
                    await self._settled
                    return got
            return None
        return self._access("w", body, timeout)


def _csr_manager():
    """CHIMNEY_CSR_MASTER=cocotbext selects cocotbext-axi's AxiLiteMaster (the reference
    the lean manager is compared with, pin for pin, in tests/test_backend_cocotb.py)."""
    return os.environ.get("CHIMNEY_CSR_MASTER", "lean")


class CocotbDevice:
    def __init__(self, dut, *, timeout_ns=100_000):
        self.dut = dut
        self.timeout_ns = timeout_ns
        p = ports()
        rst, high = _reset(dut)
        if _csr_manager() == "cocotbext":
            bus = AxiLiteBus.from_prefix(dut, p.csr, bus_separator=p.sep, case_insensitive=False)
            self.axil = AxiLiteMaster(bus, clock(dut), rst, reset_active_level=high)
            self.axil.write_if.log.setLevel(logging.WARNING)
            self.axil.read_if.log.setLevel(logging.WARNING)
            self.lite = None
        else:
            self.axil = None
            self.lite = AxiLiteManager(dut, p.csr, p.sep, clock(dut), rst, high)
            self._timeout = get_sim_steps(timeout_ns, "ns")

    async def _lean(self, what, offset, access):
        try:
            got = await access
        except _Late as e:
            raise DeviceTimeout(f"CSR {what} {offset:#x}") from e
        if got is None:
            raise DeviceTimeout(f"CSR {what} {offset:#x}: ended by a reset")
        return got

    async def read32(self, offset):
        if self.lite is None:
            try:
                resp = await with_timeout(self.axil.read(offset, 4), self.timeout_ns, "ns")
            except SimTimeoutError as e:
                raise DeviceTimeout(f"CSR read {offset:#x}") from e
            if int(resp.resp):
                raise BusError(f"read {offset:#x}: response {int(resp.resp)}")
            return int.from_bytes(resp.data, "little")
        data, resp = await self._lean("read", offset, self.lite.read(offset, self._timeout))
        if resp:
            raise BusError(f"read {offset:#x}: response {resp}")
        return data

    async def write32(self, offset, value):
        if self.lite is None:
            try:
                resp = await with_timeout(self.axil.write(offset, int(value).to_bytes(4, "little")),
                                          self.timeout_ns, "ns")
            except SimTimeoutError as e:
                raise DeviceTimeout(f"CSR write {offset:#x}") from e
            if int(resp.resp):
                raise BusError(f"write {offset:#x}: response {int(resp.resp)}")
            return
        data = int.from_bytes(int(value).to_bytes(4, "little"), "little")     # the same range check
        resp = await self._lean("write", offset, self.lite.write(offset, data, timeout=self._timeout))
        if resp:
            raise BusError(f"write {offset:#x}: response {resp}")

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
