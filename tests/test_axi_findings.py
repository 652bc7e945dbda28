"""AXI findings in the existing design, each kept as a test once fixed (while open
they were strict xfails). The CTRL.RESET findings once here: tests/test_reset_amaranth.py.

1. A build with addr_width < 64 (integration.md allows 32..64) checked a list entry's
   addresses only for "non-zero and aligned" on the 64-bit field and drove their low
   addr_width bits: a status_addr at or above 2^addr_width wrote the Status word at the
   truncated address, which the command never named (found by the engine-level proof,
   chimney/formal/engine.py, in its first 32-bit build). Fixed by the DMA windows: after
   reset window 0 ends at 2^addr_width - 1, so such an address is outside every window."""

from chimney.contract import EngineParams, Opcode
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from scenarios.raw import RawRings

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


def test_addr_width_32_ignores_address_bits_above_the_bus():
    """Found by the engine-level bounded proof (chimney/formal/engine.py) when it was first
    built with addr_width=32: its counterexample at cycle 35 is a TERMINATE of one entry
    whose handle is refused (BAD_HANDLE) and whose status_addr is 1 << 63; the engine
    checks only 'non-zero and 4-byte aligned' on the 64-bit field, the DMA master drives
    its low 32 bits, and the Status word lands at address 0. Here: status_addr =
    (1 << 32) | X for a real word X, which must stay as it was (or the entry be refused
    with BAD_ADDRESS); before the windows X was overwritten with INVALID_PARAMETER."""
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


def test_addr_width_32_refuses_addresses_above_the_bus():
    """The same build: an entry whose only fault is a status_addr above 2^32 is refused
    with BAD_ADDRESS (the reset window 0 ends at 2^32 - 1), and a load block above it too."""
    from chimney.contract import ErrorCode, NdisStatus, ObjType, LIST_ENTRY, make_handle
    params = SMALL.replace(addr_width=32)
    seen = {}

    async def body(ctx, dut, device, memory, axi):
        regs = Registers(device, params)
        rings = RawRings(regs, memory)
        await rings.start()
        assert await regs.read("WIN0_LIMIT_HI") == 0 and await regs.read("WIN0_LIMIT_LO") == 0xFFFFFFFF
        word = memory.alloc(4, 4)
        lst = memory.alloc(32, 64)
        memory.write(lst.addr, LIST_ENTRY.to_bytes(handle=make_handle(ObjType.NEIGHBOR, 0, 0),
                                                   status_addr=(1 << 32) | word.addr, state_addr=word.addr))
        seen["list"] = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
        seen["load"] = await rings.run(Opcode.OFFLOAD, obj_type=int(ObjType.NEIGHBOR), addr=(1 << 32) | lst.addr)
    run_engine(params, body)
    assert (seen["list"]["status"], seen["list"]["detail"]) == (NdisStatus.INVALID_ADDRESS, ErrorCode.BAD_ADDRESS)
    assert seen["load"]["detail"] == ErrorCode.BAD_ADDRESS, seen
