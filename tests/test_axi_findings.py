"""AXI violations the protocol monitors found in the existing design, kept as strict
xfail tests: each fails today with the monitor's report and turns into an XPASS (a test
failure) once rtl/ is fixed, so the fix is noticed and this marker removed.

1. CTRL.RESET while a DMA transaction is pending: rtl/top.py wraps the DMA master in
   ResetInserter(soft_reset), so a soft reset drops ARVALID (or AWVALID/WVALID) before
   READY -- AXI A3.2.1 -- and forgets bursts the subordinate already accepted, whose R
   beats and B responses then still arrive. The driver only resets after HALTED (bus
   dead, VALIDs already low), so the shipped flows do not hit it; a driver resetting a
   busy engine would.
2. The same reset with a read burst accepted but not yet answered: the master forgets
   it, the subordinate still owes its R beats, and the first read after the reset takes
   them. Seen: a NOP submitted with tag 2 after the restart completes as tag 1 (the
   descriptor fetched before the reset, from the old command ring). Bus-legal from the
   subordinate's side, so no monitor can flag it; silent wrong data."""

import pytest

from chimney.contract import EngineParams, Opcode
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from chimney.tb.axi_monitor import ProtocolViolation
from scenarios.raw import RawRings

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


@pytest.mark.xfail(raises=ProtocolViolation, strict=True,
                   reason="rtl/top.py: CTRL.RESET resets the DMA master mid-transaction (ARVALID dropped)")
def test_soft_reset_with_a_read_pending_keeps_arvalid():
    async def body(ctx, dut, device, memory, axi):
        regs = Registers(device, SMALL)
        rings = RawRings(regs, memory)
        await rings.start()
        axi.block.add("ar")                          # the subordinate stalls AR (legal)
        rings._put(list(Opcode)[0], {})
        await regs.write_fields("CMDQ_PROD", INDEX=rings.cmd_prod)
        for _ in range(20):
            await ctx.tick()
        assert ctx.get(dut.dma.arvalid)              # the command fetch waits for ARREADY
        await regs.write_fields("CTRL", RESET=1)      # the host resets a busy engine
        for _ in range(20):
            await ctx.tick()
    run_engine(SMALL, body)


@pytest.mark.xfail(raises=AssertionError, strict=True,
                   reason="rtl/top.py: after CTRL.RESET the first read takes R beats owed to a burst from before it")
def test_soft_reset_with_a_read_in_flight_then_a_command():
    seen = {}

    async def body(ctx, dut, device, memory, axi):
        regs = Registers(device, SMALL)
        rings = RawRings(regs, memory)
        await rings.start()
        axi.read_latency = 300                       # the command fetch is accepted, R comes late
        rings._put(list(Opcode)[0], {})
        await regs.write_fields("CMDQ_PROD", INDEX=rings.cmd_prod)
        for _ in range(30):
            await ctx.tick()
        assert axi.stats["ar"] == 1 and axi.stats["r"] == 0
        await regs.write_fields("CTRL", RESET=1)
        axi.read_latency = 2
        await rings.restart()
        tag = await rings.submit(list(Opcode)[0])
        seen["tag"], seen["cpl"] = tag, (await rings.completion())["tag"]
    run_engine(SMALL, body, until_s=20e-3)
    assert seen["cpl"] == seen["tag"], f"submitted tag {seen['tag']}, completion for tag {seen['cpl']}"
