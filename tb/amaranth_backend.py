"""Amaranth-simulator backends: an AXI4-Lite register window and an AXI4 host memory.

Both run inside Amaranth's async testbenches, so the same driver code that runs
over cocotb runs here too, on the unmodified Amaranth design.
"""

from chimney.sw.bus import BusError, DeviceTimeout, BumpAllocator


class AmaranthSimDevice:
    """`chimney.sw.bus.Device` over an Amaranth-sim testbench context."""

    def __init__(self, ctx, dut, *, period_ns=10, timeout_cycles=1000):
        self.ctx = ctx
        self.dut = dut
        self.bus = dut.csr
        self.period_ns = period_ns
        self.timeout_cycles = timeout_cycles

    async def _until(self, cond, what):
        for _ in range(self.timeout_cycles):
            _, _, value = await self.ctx.tick().sample(cond)
            if value:
                return
        raise DeviceTimeout(f"AXI4-Lite {what} not answered in {self.timeout_cycles} cycles")

    async def write32(self, offset, value):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.awaddr, offset)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        aw_done = w_done = False
        for _ in range(self.timeout_cycles):
            _, _, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
            aw_done |= bool(awready)
            w_done |= bool(wready)
            if aw_done:
                ctx.set(bus.awvalid, 0)
            if w_done:
                ctx.set(bus.wvalid, 0)
            if aw_done and w_done:
                break
        else:
            raise DeviceTimeout(f"AXI4-Lite write to {offset:#x} not accepted")
        ctx.set(bus.bready, 1)
        for _ in range(self.timeout_cycles):
            _, _, bvalid, bresp = await ctx.tick().sample(bus.bvalid, bus.bresp)
            if bvalid:
                break
        else:
            raise DeviceTimeout(f"AXI4-Lite write to {offset:#x}: no response")
        ctx.set(bus.bready, 0)
        if bresp:
            raise BusError(f"write {offset:#x}: response {bresp}")

    async def read32(self, offset):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.araddr, offset)
        ctx.set(bus.arvalid, 1)
        await self._until(bus.arready, f"read address {offset:#x}")
        ctx.set(bus.arvalid, 0)
        ctx.set(bus.rready, 1)
        for _ in range(self.timeout_cycles):
            _, _, rvalid, rdata, rresp = await ctx.tick().sample(bus.rvalid, bus.rdata, bus.rresp)
            if rvalid:
                break
        else:
            raise DeviceTimeout(f"AXI4-Lite read {offset:#x}: no response")
        ctx.set(bus.rready, 0)
        if rresp:
            raise BusError(f"read {offset:#x}: response {rresp}")
        return rdata

    def irq_level(self):
        return bool(self.ctx.get(self.dut.irq))

    async def wait_irq(self, timeout_ns):
        cycles = max(1, timeout_ns // self.period_ns)
        for _ in range(cycles):
            if self.ctx.get(self.dut.irq):
                return
            await self.ctx.tick()
        if not self.ctx.get(self.dut.irq):
            raise DeviceTimeout(f"no interrupt within {timeout_ns} ns")


def _watchdog(sim, until_s, period_s=10e-9):
    """A background process that fails the run if the testbench is still going at `until_s`.

    `sim.run()` ends as soon as the (critical) testbench returns; the watchdog only
    bounds a testbench that would otherwise wait forever."""
    async def watchdog(ctx):
        for _ in range(int(until_s / period_s)):
            await ctx.tick()
        raise DeviceTimeout(f"testbench still running after {until_s} s of simulated time")
    sim.add_process(watchdog)


def run_testbench(params, body, *, until_s=1e-3, dut=None, processes=()):
    """Simulate the engine with one async testbench `body(ctx, dut)` (and background
    `processes`, objects with add_to(sim)); re-raise the testbench's failure."""
    from amaranth.sim import Simulator
    from chimney.rtl.top import ChimneyEngine
    dut = dut or ChimneyEngine(params)
    sim = Simulator(dut)
    sim.add_clock(10e-9)
    for process in processes:
        process.add_to(sim)
    if hasattr(dut, "csr"):              # the engine's AXI4-Lite port: the protocol monitor
        from chimney.tb.axi_monitor import AxiLiteMonitor, add_amaranth_monitor
        add_amaranth_monitor(sim, AxiLiteMonitor(), dut.csr)
    outcome = []

    async def bench(ctx):
        try:
            await body(ctx, dut)
            outcome.append(None)
        except BaseException as e:        # carry the failure out of the simulator
            outcome.append(e)

    sim.add_testbench(bench)
    _watchdog(sim, until_s)
    sim.run()
    if outcome[0] is not None:
        raise outcome[0]


class SimHostMemory:
    """`chimney.sw.bus.HostMemory` for Amaranth-sim runs: sparse bytes plus an allocator.
    Addresses below 4 KiB are never handed out (so 0 stays an invalid pointer)."""

    def __init__(self, size=1 << 24):
        from chimney.tb.amaranth_axi import SparseMemory
        self.mem = SparseMemory()
        self._alloc = BumpAllocator(0x1000, size - 0x1000)

    def alloc(self, size, align=64):
        return self._alloc.alloc(size, align)

    def free(self, region):
        self._alloc.free(region)

    def read(self, addr, length):
        return self.mem.read(addr, length)

    def write(self, addr, data):
        self.mem.write(addr, data)


def run_engine(params, body, *, until_s=5e-3, seed=1, pause=0.0, read_latency=2, errors=(), hang=(),
               **axi_kw):
    """Simulate the whole engine against an AXI host memory; `body(ctx, dut, device, memory, axi)`.
    `axi_kw` goes to `AxiMemoryModel` (e.g. b_latency, aw_waits_for_w)."""
    from chimney.rtl.top import ChimneyEngine
    from chimney.tb.amaranth_axi import AxiMemoryModel
    dut = ChimneyEngine(params)
    memory = SimHostMemory()
    axi = AxiMemoryModel(dut.dma, memory.mem, seed=seed, pause=pause, read_latency=read_latency,
                         max_burst=params.max_burst, errors=list(errors), hang=list(hang),
                         fatal=dut.dma_master.fatal, windows=(dut.engine.win, params.n_windows), **axi_kw)

    async def bench(ctx, dut):
        await body(ctx, dut, AmaranthSimDevice(ctx, dut, timeout_cycles=20000), memory, axi)

    run_testbench(params, bench, until_s=until_s, dut=dut, processes=[axi])
    return axi
