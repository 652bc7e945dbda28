"""Facts docs/interface.md states that no other test pins (issue 11), on the reference
model and, where cheap, on the RTL in Amaranth's simulator."""

from chimney.contract import (EngineParams, ErrorCode, NdisStatus, ObjType, Opcode, NO_INDEX,
                              MAX_POST_LENGTH, WRITE_BACK, DELEGATED, split_handle)
from chimney.contract.ecc import DATA_BITS, CHECK_BITS
from chimney.sw.harness import RawHost

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
TCP = dict(State=4, RcvNxt=1000, SndUna=5000)


def _tree(h):
    nb = h.offload(ObjType.NEIGHBOR, 0, cookie=1, NicReachabilityDelta=5)[0]["result"]
    pa = h.offload(ObjType.PATH, nb, cookie=2, PathMtu=1500)[0]["result"]
    tc = h.offload(ObjType.TCP, pa, cookie=3, **TCP)[0]["result"]
    return nb, pa, tc


def _refused(c, code):
    from chimney.contract import ERROR_STATUS
    return (c["status"], c["detail"], c["err_index"]) == (ERROR_STATUS[code], code, NO_INDEX)


def test_command_level_facts_on_the_model():
    h = RawHost.over_model(SMALL, cmd_log2=4, cpl_log2=4, evt_log2=4)
    c, _ = h.cmd(opcode=Opcode.NOP)
    assert c["seq"] == 0                                         # first seq after reset
    c, _ = h.cmd(opcode=0x85)
    assert _refused(c, ErrorCode.BAD_OPCODE) and c["opcode"] == 0x5   # 4-bit opcode field
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=7, addr=0x8000)
    assert _refused(c, ErrorCode.BAD_HANDLE)
    nb, pa, tc = _tree(h)
    assert [split_handle(x)[2] for x in (nb, pa, tc)] == [0, 0, 0]   # fresh rows: generation 0
    for length in (0, MAX_POST_LENGTH + 1):
        assert _refused(h.post(tc, 1, length)[0], ErrorCode.BAD_LENGTH)


def test_post_does_not_read_data_words():
    """POST reads meta, ident and pool entries only: a lost data word goes unnoticed
    (the next QUERY finds it); a lost ident word counts but fails nothing."""
    h = RawHost.over_model(SMALL, cmd_log2=4, cpl_log2=4, evt_log2=4)
    _, pa, tc = _tree(h)
    eng = h.engine
    eng.flip(*eng.word_addr(ObjType.TCP, "data", 0, 2), 0b11)
    eng.flip(*eng.word_addr(ObjType.TCP, "ident", 0), 0b11)
    c, ev = h.post(tc, 7, 100)
    assert c["status"] == NdisStatus.SUCCESS and ev == []
    assert eng.reg("ECC_UE_COUNT") == 1 and eng.reg("QUARANTINED") == 0
    e = h.entry(tc, parent=split_handle(pa)[1], req_cap=1)
    h.query([e])
    assert h.status(e) == NdisStatus.FAILURE


def test_quarantined_counts_when_the_lost_meta_word_is_found():
    h = RawHost.over_model(SMALL, cmd_log2=4, cpl_log2=4, evt_log2=4)
    _, pa, tc = _tree(h)
    eng = h.engine
    eng.flip(*eng.word_addr(ObjType.TCP, "meta", 0), 0b11)
    e = h.entry(tc, parent=split_handle(pa)[1], req_cap=1)
    h.query([e])
    assert eng.reg("QUARANTINED") == 1                         # found by the QUERY
    h.terminate([h.entry(tc, parent=split_handle(pa)[1], req_cap=1)])
    assert eng.reg("QUARANTINED") == 1                         # not again at its final terminate
    assert eng.meta(ObjType.TCP, 0).quarantined


def test_delegated_bytes_without_a_member_are_zero():
    wb = WRITE_BACK[ObjType.TCP]
    image = wb.image({name: (1 << (8 * size)) - 1 for name, _, size in wb.fields})
    for name, off, ctype in DELEGATED[ObjType.TCP].fields():
        if name in ("SendDataHead", "SendDataTail", "BufferedData"):
            assert image[off - wb.start:off - wb.start + ctype.size] == bytes(ctype.size)
    assert (wb.start, wb.end) == (8, 124)


def test_ue_kind_values_match_the_rtl_and_the_model():
    from chimney.rtl.ecc_status import UeKind
    from chimney.sw.model.tables import UE_KIND_SECDED, UE_KIND_CRC
    assert (int(UeKind.SECDED), int(UeKind.CRC)) == (UE_KIND_SECDED, UE_KIND_CRC) == (1, 2)
    assert (DATA_BITS, CHECK_BITS) == (64, 8)


def test_command_level_facts_on_the_rtl():
    import random
    from chimney.sw.regs import Registers
    from chimney.tb.amaranth_backend import run_engine
    from scenarios.raw import RawRings
    from scenarios.engine import offload_tree
    params = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)

    async def bench(ctx, dut, device, memory, axi):
        regs = Registers(device, params)
        rings = RawRings(regs, memory)
        await rings.start()
        assert (await rings.run(Opcode.NOP))["seq"] == 0
        await rings.submit(0x85)
        c = await rings.completion()
        assert _refused(c, ErrorCode.BAD_OPCODE) and c["opcode"] == 0x5
        assert _refused(await rings.run(Opcode.OFFLOAD, obj_type=7, addr=0x2000), ErrorCode.BAD_HANDLE)
        nh, ph, [(th, _)] = await offload_tree(rings, random.Random(1))
        assert [split_handle(x)[2] for x in (nh, ph, th)] == [0, 0, 0]
        for length in (0, MAX_POST_LENGTH + 1):
            c = await rings.run(Opcode.POST_SEND, handle=th, cookie=1, count=length)
            assert _refused(c, ErrorCode.BAD_LENGTH)

    assert run_engine(params, bench).violations == []


def test_the_docs_name_the_start_up_fix_the_generator_applies():
    """interface.md says every simulator runs `chimney_engine.v` as written and names the
    function that makes it so; the cocotb builds take exactly that file."""
    import inspect
    from chimney import generate
    from chimney.contract.export import interface_md
    from chimney.tb import simbuild
    text = interface_md()
    assert "`chimney.generate.simulator_safe`" in text and hasattr(generate, "simulator_safe")
    assert "icarus.v" not in text and not hasattr(simbuild, "icarus_source")
    assert "simulator_safe" not in inspect.getsource(simbuild)
