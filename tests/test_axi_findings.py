"""AXI violations the protocol monitors found in the existing design, kept as strict
xfail tests: each fails today with the monitor's report and turns into an XPASS (a test
failure) once rtl/ is fixed, so the fix is noticed and this marker removed.
(The CTRL.RESET findings once here are fixed: tests/test_reset_amaranth.py.)

1. A build with addr_width < 64 (integration.md allows 32..64) checks a list entry's
   addresses only for "non-zero and aligned" on the 64-bit field and drives their low
   addr_width bits: a status_addr at or above 2^addr_width writes the Status word at the
   truncated address, which the command never named (found by the engine-level proof,
   chimney/formal/engine.py, in its first 32-bit build)."""

import pytest

from chimney.contract import EngineParams, Opcode
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from scenarios.raw import RawRings

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


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
