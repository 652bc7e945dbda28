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
   subordinate's side, so no monitor can flag it; silent wrong data.
3. A build with addr_width < 64 (integration.md allows 32..64) checks a list entry's
   addresses only for "non-zero and aligned" on the 64-bit field and drives their low
   addr_width bits: a status_addr at or above 2^addr_width writes the Status word at the
   truncated address, which the command never named (found by the engine-level proof,
   chimney/formal/engine.py, in its first 32-bit build)."""

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


@pytest.mark.xfail(raises=AssertionError, strict=True,
                   reason="rtl: a 32-bit-address build takes a status_addr at or above 2^32 as valid and "
                          "writes its Status word at the address truncated to 32 bits (found by the engine-level "
                          "proof, chimney/formal/engine.py, in its first 32-bit build)")
def test_addr_width_32_ignores_address_bits_above_the_bus():
    """Found by the engine-level bounded proof (chimney/formal/engine.py) when it was first
    built with addr_width=32: its counterexample at cycle 35 is a TERMINATE of one entry
    whose handle is refused (BAD_HANDLE) and whose status_addr is 1 << 63; the engine
    checks only 'non-zero and 4-byte aligned' on the 64-bit field, the DMA master drives
    its low 32 bits, and the Status word lands at address 0. Here: status_addr =
    (1 << 32) | X for a real word X, which must stay as it was (or the entry be refused
    with BAD_ADDRESS); today X is overwritten with INVALID_PARAMETER."""
    params = SMALL.replace(addr_width=32)
    seen = {}

    async def body(ctx, dut, device, memory, axi):
        from chimney.contract import LIST_ENTRY
        regs = Registers(device, params)
        rings = RawRings(regs, memory)
        await rings.start()
        word = memory.alloc(4, 4)
        memory.write(word.addr, b"\xEE\xEE\xEE\xEE")
        lst = memory.alloc(32, 64)
        memory.write(lst.addr, LIST_ENTRY.to_bytes(handle=0xFF << 24, status_addr=(1 << 32) | word.addr))
        seen["cpl"] = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=1)
        seen["word"] = memory.read(word.addr, 4)
    run_engine(params, body)
    assert seen["word"] == b"\xEE\xEE\xEE\xEE", \
        f"status word at the truncated address written: {seen['word'].hex()} (completion {seen['cpl']})"
