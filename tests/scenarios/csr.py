"""CSR scenarios written against the driver's register window only.

Each runs unchanged over Amaranth-sim (tests/test_csr_amaranth.py) and over
cocotb on Icarus and Verilator (tests/cocotb/cocotb_csr.py).
"""

from chimney.contract import register_map, ID_VALUE, VERSION, ErrorCode
from chimney.sw.bus import BusError


async def identity_and_capabilities(regs, params):
    assert await regs.read("ID") == ID_VALUE
    assert regs.decode("VERSION", await regs.read("VERSION")) == dict(
        MAJOR=VERSION[0], MINOR=VERSION[1], PATCH=VERSION[2])
    caps = regs.decode("CAPS", await regs.read("CAPS"))
    assert caps == dict(ECC=int(params.ecc), DMA_BYTES=params.data_width // 8, ADDR_WIDTH=params.addr_width)
    assert await regs.read("CAP_TCP") == params.n_tcp
    assert await regs.read("CAP_PATH") == params.n_path
    assert await regs.read("CAP_NEIGHBOR") == params.n_neighbor
    assert await regs.read("CAP_REQ") == params.n_req
    await regs.write("ID", 0)                      # read-only: ignored
    assert await regs.read("ID") == ID_VALUE


async def reset_values_and_scratch(regs, params, live=("STATUS",)):
    for reg in register_map(params):
        if reg.name not in live:
            value = await regs.read(reg.name)
            assert value == reg.reset, f"{reg.name} reads {value:#x}, reset value is {reg.reset:#x}"
    for value in (0xFFFFFFFF, 0xA5A55A5A, 0, 0x12345678):
        await regs.write("SCRATCH", value)
        assert await regs.read("SCRATCH") == value


async def unmapped_offsets_answer_slverr(regs):
    for access in ("read", "write"):
        try:
            if access == "read":
                await regs.device.read32(0xFFC)
            else:
                await regs.device.write32(0x0FC, 1)
        except BusError:
            pass
        else:
            raise AssertionError(f"unmapped {access} was not answered with an error")
    await regs.write("SCRATCH", 7)                 # the bus still works afterwards
    assert await regs.read("SCRATCH") == 7


async def offsets_decode_by_word(regs):
    """The low two offset bits are ignored, on the RTL and in the model (AXI4-Lite: a
    register is one 32-bit word, byte lanes come from WSTRB). Not run over cocotbext-axi,
    whose master turns an unaligned access into aligned ones with partial strobes."""
    dev, scratch = regs.device, regs.offset("SCRATCH")
    for k in (1, 2, 3):
        await dev.write32(scratch + k, 0x5A000000 | k)
        assert await regs.read("SCRATCH") == 0x5A000000 | k
        assert await dev.read32(scratch + 4 - k) == 0x5A000000 | k
    assert await dev.read32(regs.offset("ID") + 3) == ID_VALUE
    for off in (0xFFD, 0x0FE):                     # unmapped words stay unmapped at every byte
        try:
            await dev.read32(off)
        except BusError:
            pass
        else:
            raise AssertionError(f"unmapped read at {off:#x} was answered")


async def error_raises_interrupt_rw1c_clears(regs):
    dev = regs.device
    await regs.write_fields("CMDQ_SIZE", LOG2=2)          # 4 entries
    await regs.write_fields("IRQ_MASK", ERR=1)
    assert not dev.irq_level()
    await regs.write_fields("CMDQ_PROD", INDEX=4)         # exactly a full ring: accepted
    assert await regs.read("ERR_STATUS") == 0
    await regs.write_fields("CMDQ_PROD", INDEX=5)         # one past: refused
    err = await regs.read("ERR_STATUS")
    assert err == 1 << ErrorCode.CMDQ_OVERFLOW, hex(err)
    assert regs.decode("IRQ_STATUS", await regs.read("IRQ_STATUS"))["ERR"] == 1
    await dev.wait_irq(1000)
    assert dev.irq_level()
    await regs.write("ERR_STATUS", 0)                     # writing 0 clears nothing
    assert await regs.read("ERR_STATUS") == err
    await regs.write("ERR_STATUS", err)
    await regs.write("IRQ_STATUS", regs.encode("IRQ_STATUS", ERR=1))
    assert await regs.read("ERR_STATUS") == 0
    assert await regs.read("IRQ_STATUS") == 0
    assert not dev.irq_level()
    await regs.write_fields("IRQ_MASK", ERR=0)            # masked: recorded, line stays low
    await regs.write_fields("CMDQ_PROD", INDEX=9)
    assert regs.decode("IRQ_STATUS", await regs.read("IRQ_STATUS"))["ERR"] == 1
    assert not dev.irq_level()


async def windows_lock_while_enabled(regs, params):
    """The DMA window registers: whole 8-byte beats (a base's bits 2:0 read 0, a limit's
    1), writable while the engine is disabled, ignored (answered OKAY) while enabled."""
    last = params.n_windows - 1
    base, limit = f"WIN{last}_BASE_LO", f"WIN{last}_LIMIT_LO"
    await regs.write(base, 0x12345677)
    await regs.write(limit, 0x12345670)
    assert (await regs.read(base), await regs.read(limit)) == (0x12345670, 0x12345677)
    for q in ("CMDQ", "CPLQ", "EVTQ"):                  # rings that are never used (no doorbell)
        await regs.write64(f"{q}_BASE_LO", f"{q}_BASE_HI", 0x10000 * (1 + "CMDQ CPLQ EVTQ".split().index(q)))
        await regs.write_fields(f"{q}_SIZE", LOG2=2)
    for _ in range(20000):                              # the reset's table walk first
        if await regs.read_field("STATUS.READY"):
            break
    else:
        raise AssertionError("STATUS.READY never set")
    await regs.write_fields("CTRL", ENABLE=1)
    for _ in range(100):
        if await regs.read_field("STATUS.ENABLED"):
            break
    else:
        raise AssertionError("the engine did not enable")
    for reg in (base, limit, f"WIN{last}_BASE_HI", "WIN0_LIMIT_HI"):
        before = await regs.read(reg)
        await regs.write(reg, ~before & 0xFFFFFFFF)
        assert await regs.read(reg) == before, f"{reg} written while enabled"
    await regs.write_fields("CTRL", ENABLE=0)
    for _ in range(100):
        if not await regs.read_field("STATUS.ENABLED"):
            break
    else:
        raise AssertionError("the engine did not stop")
    await regs.write(base, 0x8)
    assert await regs.read(base) == 0x8


ALL = {
    "windows_lock_while_enabled": lambda regs, params: windows_lock_while_enabled(regs, params),
    "identity_and_capabilities": lambda regs, params: identity_and_capabilities(regs, params),
    "reset_values_and_scratch": lambda regs, params: reset_values_and_scratch(regs, params),
    "unmapped_offsets_answer_slverr": lambda regs, params: unmapped_offsets_answer_slverr(regs),
    "error_raises_interrupt_rw1c_clears": lambda regs, params: error_raises_interrupt_rw1c_clears(regs),
}

#: Scenarios that need word accesses at any byte offset: the Amaranth-sim backend and the
#: model (not cocotbext-axi, see `offsets_decode_by_word`).
RAW_OFFSETS = dict(ALL, offsets_decode_by_word=lambda regs, params: offsets_decode_by_word(regs))
