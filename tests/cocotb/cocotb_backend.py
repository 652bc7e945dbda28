"""cocotb: the backend's lean AXI4-Lite manager against cocotbext-axi's AxiLiteMaster,
and the AXI monitors' edge callback.

`pin_trace` runs the same traffic (CSR scenarios with error responses and an interrupt,
bring-up, offloads and a TERMINATE, a reset of the top with the manager in place, a
second bring-up) and writes every value change on the top's ports, cycle by cycle, to
$CHIMNEY_TRACE_OUT; tests/test_backend_cocotb.py runs it once with each manager
(CHIMNEY_CSR_MASTER) and compares the two traces. The `monitors_*` pair checks that the
monitors sample at every edge of their test and not after it.
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from chimney.sw.regs import Registers
from chimney.tb import bench
from chimney.tb.backend import CLOCK_NS, CocotbDevice, CocotbHostMemory, clock, reset, start
from chimney.tb.env import params_from_env, ports
from scenarios import csr
from scenarios.raw import RawRings


async def _record(dut, trace):
    p = ports()
    names = sorted(n for n in dir(dut) if n.startswith((p.csr + p.sep, p.dma + p.sep))) + ["irq"]
    handles = [getattr(dut, n) for n in names]
    trace.append(names)
    last = None
    cycle = 0
    edge = RisingEdge(clock(dut))
    while True:
        await edge
        cycle += 1
        now = [str(h.value) for h in handles]
        if now != last:
            trace.append([cycle, now])
            last = now


@cocotb.test()
async def pin_trace(dut):
    params = params_from_env()
    trace, events = [], []
    cocotb.start_soon(_record(dut, trace))
    await start(dut)
    memory = CocotbHostMemory(dut)
    regs = Registers(CocotbDevice(dut), params)
    await csr.unmapped_offsets_answer_slverr(regs)
    await csr.error_raises_interrupt_rw1c_clears(regs)
    rings = RawRings(regs, memory, log2=4, timeout_ns=50_000_000)
    await rings.start()
    await bench.speed_scenario(rings, n_tcp=3)
    events.append(("first run", cocotb.utils.get_sim_time("ns")))
    await reset(dut)                              # the top's reset with the manager in place
    memory.reset()
    rings = RawRings(regs, memory, log2=4, timeout_ns=50_000_000)
    await rings.start()
    nh, ph = await bench.offload_parents(rings)
    events.append(("second run", cocotb.utils.get_sim_time("ns")))
    with open(os.environ["CHIMNEY_TRACE_OUT"], "w") as f:
        json.dump({"events": events, "trace": trace}, f)


# --- the protocol monitors' edge callback ends with its test --------------------------------
_EARLIER = []


@cocotb.test()
async def monitors_sample_during_their_test(dut):
    await start(dut)                              # the monitors: a callback on every rising edge
    csr, dma = dut._chimney_monitors
    c0 = csr.cycle
    for _ in range(20):
        await RisingEdge(clock(dut))
    assert csr.cycle - c0 == 20 and dma.cycle - c0 == 20, (c0, csr.cycle, dma.cycle)
    _EARLIER.append(csr)


@cocotb.test()
async def monitors_stop_after_their_test(dut):
    assert _EARLIER, "runs after monitors_sample_during_their_test"
    Clock(clock(dut), CLOCK_NS, unit="ns").start()
    before = _EARLIER[0].cycle
    for _ in range(20):
        await RisingEdge(clock(dut))
    assert _EARLIER[0].cycle == before, "the previous test's monitor still samples"
