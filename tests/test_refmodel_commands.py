"""Reference model: every command and every refusal class it can produce."""

import pytest

from chimney.sw.regs import Registers

from chimney.contract import (EngineParams, ErrorCode, NdisStatus, ObjType, Opcode, Disposition, ReqKind,
                              NO_INDEX, make_handle, split_handle, TcpEventType, DELEGATED, WRITE_BACK)
from chimney.sw.harness import RawHost, UNWRITTEN, expected_delegated
from chimney.sw.bus import BusError

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
NB = dict(NicReachabilityDelta=0x11223344, HostReachabilityDelta=7, DlDestinationAddress=0xA1B2C3D4E5F6, VlanId=42)
TCP = dict(State=4, Flags=0x8001, RcvNxt=1000, RcvWnd=65535, SndUna=5000, SndNxt=5100, SndMax=5200,
           SRtt=300, RttVar=40, DupAckCount=3, KeepAlive_ProbeCount=2, KeepAlive_TimeoutDelta=99,
           Retransmit_Count=1, Retransmit_TimeoutDelta=77, DWnd=0xCAFEBABE, ConstFlags=5, SndWindScale=7,
           RcvWindScale=3)


def idx(handle):
    return split_handle(handle)[1]


@pytest.fixture
def h():
    return RawHost.over_model(SMALL, cmd_log2=4, cpl_log2=4, evt_log2=4)


def tree(h, ntcp=1):
    """neighbor -> path -> ntcp connections; returns (nb, path, [tcp])."""
    c, _ = h.offload(ObjType.NEIGHBOR, 0, cookie=0x1000, **NB)
    nb = c["result"]
    c, _ = h.offload(ObjType.PATH, nb, cookie=0x2000, PathMtu=1500)
    pa = c["result"]
    tcps = []
    for i in range(ntcp):
        c, _ = h.offload(ObjType.TCP, pa, cookie=0x3000 + i, **dict(TCP, RcvNxt=1000 + i))
        assert c["status"] == 0, c
        tcps.append(c["result"])
    return nb, pa, tcps


def assert_refused(c, code, err_index=NO_INDEX):
    from chimney.contract import ERROR_STATUS
    assert c["status"] == ERROR_STATUS[code], c
    assert c["detail"] == code and c["err_index"] == err_index, c


# --- NOP / bad opcode ------------------------------------------------------------------
def test_nop_and_bad_opcode(h):
    c, ev = h.cmd(opcode=Opcode.NOP)
    assert c == dict(status=0, result=0, tag=c["tag"], err_index=NO_INDEX, seq=0, detail=0, phase=1, rsvd=0, opcode=0)
    c, _ = h.cmd(opcode=9)
    assert c["status"] == NdisStatus.NOT_SUPPORTED and c["detail"] == ErrorCode.BAD_OPCODE and c["opcode"] == 9
    assert h.engine.reg("ERR_STATUS") >> ErrorCode.BAD_OPCODE & 1 or h.rings.err_seen >> ErrorCode.BAD_OPCODE & 1
    assert h.engine.reg("CMD_COUNT") == 2


# --- OFFLOAD -------------------------------------------------------------------------------
def test_offload_handles_allocation_and_refcounts(h):
    nb, pa, tcps = tree(h, 3)
    assert [split_handle(x)[:3] for x in (nb, pa)] == [(1, 0, 0), (2, 0, 0)]
    assert [split_handle(t)[:3] for t in tcps] == [(3, 0, 0), (3, 1, 0), (3, 2, 0)]
    eng = h.engine
    assert eng.meta(ObjType.NEIGHBOR, 0).refcount == 1
    assert eng.meta(ObjType.PATH, 0).refcount == 3
    assert eng.meta(ObjType.TCP, 1).parent == 0
    assert eng.row_fields(ObjType.TCP, 2)["RcvNxt"] == 1002
    assert eng.row_fields(ObjType.NEIGHBOR, 0)["VlanId"] == 42


def test_offload_allocation_scans_from_pointer_and_generation(h):
    nb, pa, tcps = tree(h, 2)
    e = h.entry(tcps[0], parent=idx(pa))
    c, _ = h.terminate([e])
    assert c["status"] == 0 and h.status(e) == 0
    m = h.engine.meta(ObjType.TCP, 0)
    assert (m.valid, m.gen, m.freed_tag) == (0, 1, h.engine.reg("CMD_COUNT") - 1)
    # the next-allocation pointer is past row 1: the new row is 2, not the freed row 0
    c, _ = h.offload(ObjType.TCP, pa, cookie=9, **TCP)
    assert split_handle(c["result"])[:3] == (3, 2, 0)
    for _ in range(SMALL.n_tcp - 3):
        c, _ = h.offload(ObjType.TCP, pa, cookie=9, **TCP)
    # wrapped: row 0 comes back with generation 1
    c, _ = h.offload(ObjType.TCP, pa, cookie=9, **TCP)
    assert split_handle(c["result"])[:3] == (3, 0, 1)
    c, _ = h.offload(ObjType.TCP, pa, cookie=9, **TCP)
    assert_refused(c, ErrorCode.TABLE_FULL)
    assert c["result"] == 0


@pytest.mark.parametrize("case,code", [
    ("obj_type0", ErrorCode.BAD_HANDLE), ("neighbor_with_parent", ErrorCode.PARENT),
    ("wrong_parent_type", ErrorCode.PARENT), ("parent_rsvd", ErrorCode.PARENT),
    ("parent_range", ErrorCode.PARENT), ("addr0", ErrorCode.BAD_ADDRESS), ("addr_misaligned", ErrorCode.BAD_ADDRESS),
    ("state11", ErrorCode.BAD_STATE), ("parent_stale", ErrorCode.PARENT), ("parent_not_offloaded", ErrorCode.PARENT),
])
def test_offload_refusals(h, case, code):
    nb, pa, _ = tree(h, 0)
    blk = h.load_block(ObjType.TCP, **TCP)
    cmd = dict(opcode=Opcode.OFFLOAD, obj_type=3, handle=pa, addr=blk, cookie=1)
    if case == "obj_type0":
        cmd["obj_type"] = 0
    elif case == "neighbor_with_parent":
        cmd.update(obj_type=1, handle=nb)
    elif case == "wrong_parent_type":
        cmd["handle"] = nb
    elif case == "parent_rsvd":
        cmd["handle"] = pa | 1 << 26
    elif case == "parent_range":
        cmd["handle"] = make_handle(ObjType.PATH, SMALL.n_path, 0)
    elif case == "addr0":
        cmd["addr"] = 0
    elif case == "addr_misaligned":
        cmd["addr"] = blk + 4
    elif case == "state11":
        cmd["addr"] = h.load_block(ObjType.TCP, **dict(TCP, State=11))
    elif case == "parent_stale":
        cmd["handle"] = make_handle(ObjType.PATH, 0, 5)
    elif case == "parent_not_offloaded":
        cmd["handle"] = make_handle(ObjType.PATH, 3, 0)
    c, ev = h.cmd(**cmd)
    assert_refused(c, code)
    assert c["result"] == 0 and ev == []
    assert h.engine.live_rows(ObjType.TCP) == []
    assert h.rings.err_seen >> int(code) & 1


def test_offload_to_failed_parent_refused(h):
    nb, pa, _ = tree(h, 0)
    h.engine.flip(*h.engine.word_addr(ObjType.PATH, "data", 0), 0b101)
    e = h.entry(pa, parent=0)
    c, _ = h.query([e])
    assert h.status(e) == NdisStatus.FAILURE and c["result"] == 1 and c["status"] == 0
    c, _ = h.offload(ObjType.TCP, pa, cookie=1, **TCP)
    assert_refused(c, ErrorCode.PARENT)


def test_offload_dma_read_error(h):
    nb, pa, _ = tree(h, 0)
    blk = h.load_block(ObjType.TCP, **TCP)
    h.engine.fail_dma(blk, 8)
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=3, handle=pa, addr=blk, cookie=1)
    assert c["status"] == NdisStatus.DEVICE_DATA_ERROR and c["detail"] == ErrorCode.DMA_READ
    assert h.engine.reg("DMA_ERR_ADDR_LO") == blk and h.engine.reg("DMA_ERR_INFO") == (1 << 31) | 2


def test_reserved_load_bits_never_reach_the_host(h):
    nb, _, _ = tree(h, 0)
    raw = bytearray(8)
    raw[0:4] = (1400).to_bytes(4, "little")
    raw[4:8] = b"\xff\xff\xff\xff"                       # path_data.rsvd: stored as given
    r = h.memory.alloc(8, 8)
    h.memory.write(r.addr, bytes(raw))
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=2, handle=nb, addr=r.addr, cookie=3)
    assert c["status"] == 0
    e = h.entry(c["result"], parent=0)
    assert h.query([e])[0]["result"] == 0 and h.status(e) == 0


def test_offload_check_order(h):
    """obj_type -> address -> parent -> load block read -> State -> free row."""
    nb, pa, _ = tree(h, 0)
    bad_state = h.load_block(ObjType.TCP, **dict(TCP, State=12))
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=3, handle=nb, addr=bad_state + 4, cookie=1)
    assert c["detail"] == ErrorCode.BAD_ADDRESS
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=3, handle=nb, addr=bad_state, cookie=1)
    assert c["detail"] == ErrorCode.PARENT
    h.engine.fail_dma(bad_state, 8)
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=3, handle=pa, addr=bad_state, cookie=1)
    assert c["detail"] == ErrorCode.DMA_READ
    h.engine.clear_dma_faults()
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=3, handle=pa, addr=bad_state, cookie=1)
    assert c["detail"] == ErrorCode.BAD_STATE


# --- POST ---------------------------------------------------------------------------------------
def test_post_appends_in_order(h):
    _, pa, (t,) = tree(h)
    for i in range(5):
        c, _ = h.post(t, 100 + i, 10 * (i + 1), recv=bool(i & 1))
        assert c["status"] == 0 and c["result"] == 0
    reqs = h.engine.requests(0)
    assert [(r.cookie, r.length, r.kind) for r in reqs] == [(100 + i, 10 * (i + 1), i & 1) for i in range(5)]
    assert h.engine.meta(ObjType.TCP, 0).req_count == 5


@pytest.mark.parametrize("case,code", [
    ("not_tcp", ErrorCode.BAD_HANDLE), ("range", ErrorCode.BAD_HANDLE), ("len0", ErrorCode.BAD_LENGTH),
    ("len_big", ErrorCode.BAD_LENGTH), ("stale_gen", ErrorCode.STALE_HANDLE), ("free_row", ErrorCode.STALE_HANDLE),
])
def test_post_refusals(h, case, code):
    _, pa, (t,) = tree(h)
    handle, length = t, 10
    if case == "not_tcp":
        handle = pa
    elif case == "range":
        handle = make_handle(ObjType.TCP, SMALL.n_tcp, 0)
    elif case == "len0":
        length = 0
    elif case == "len_big":
        length = 65536
    elif case == "stale_gen":
        handle = make_handle(ObjType.TCP, 0, 1)
    elif case == "free_row":
        handle = make_handle(ObjType.TCP, 5, 0)
    c, ev = h.post(handle, 1, length)
    assert_refused(c, code)
    assert ev == [] and h.engine.requests(0) == []


def test_post_pool_full(h):
    _, _, (t,) = tree(h)
    for i in range(SMALL.n_req):
        assert h.post(t, i, 1)[0]["status"] == 0
    c, _ = h.post(t, 99, 1)
    assert_refused(c, ErrorCode.TABLE_FULL)


def test_post_to_failed_connection(h):
    _, pa, (t,) = tree(h)
    h.post(t, 1, 10)
    h.engine.flip(*h.engine.word_addr(ObjType.TCP, "data", 0, 4), 1 << 7 | 1 << 9)
    e = h.entry(t, parent=idx(pa), req_cap=1)
    h.query([e])
    assert h.status(e) == NdisStatus.FAILURE
    c, ev = h.post(t, 2, 10)
    assert_refused(c, ErrorCode.CONN_FAILED)
    assert c["status"] == NdisStatus.REQUEST_ABORTED and ev == []      # no second pair of events


# --- QUERY / TERMINATE ------------------------------------------------------------------------
def test_query_writes_state_and_keeps_objects(h):
    nb, pa, (t,) = tree(h)
    es = [h.entry(t, parent=idx(pa)), h.entry(pa, parent=idx(nb)), h.entry(nb)]
    c, ev = h.query(es)
    assert c["status"] == 0 and c["result"] == 0 and c["err_index"] == NO_INDEX and ev == []
    assert [h.status(e) for e in es] == [0, 0, 0]
    assert h.delegated(es[0], 3) == expected_delegated(ObjType.TCP, h.engine.row_fields(ObjType.TCP, 0))
    assert h.delegated(es[2], 1) == {"NicReachabilityDelta": NB["NicReachabilityDelta"]}
    raw = h.state_bytes(es[0], 3)
    assert raw[:8] == b"\xa5" * 8 and raw[124:] == b"\xa5" * 4          # header and tail untouched
    assert raw[96:120] == bytes(24)                                        # host-pointer unions zeroed
    assert h.engine.live_rows(ObjType.TCP) == [0]


def test_terminate_tree_records_and_frees(h):
    nb, pa, (t0, t1) = tree(h, 2)
    h.post(t0, 11, 100)
    h.post(t0, 12, 200, recv=True)
    h.post(t0, 13, 300)
    es = [h.entry(t0, idx(pa), 3), h.entry(t1, idx(pa), 0), h.entry(pa, idx(nb)), h.entry(nb)]
    c, ev = h.terminate(es)
    assert (c["status"], c["result"], ev) == (0, 0, [])
    hdr, recs = h.requests(es[0])
    assert hdr == dict(count=3, list_lost=0, rsvd=0)
    assert [(r["cookie"], r["length"], r["kind"], r["disposition"]) for r in recs] == [
        (11, 100, 0, Disposition.RETURNED), (12, 200, 1, Disposition.UPLOAD_IN_PROGRESS), (13, 300, 0, Disposition.RETURNED)]
    assert h.requests(es[1])[0]["count"] == 0
    for t in ObjType:
        assert h.engine.live_rows(t) == []
    # pool entries are free again
    assert all(h.engine.tables.decode_entry(h.engine._decode_quiet("req_pool", i)).free for i in range(SMALL.n_req))


@pytest.mark.parametrize("case,code", [
    ("bad_type", ErrorCode.BAD_HANDLE), ("rsvd", ErrorCode.BAD_HANDLE), ("range", ErrorCode.BAD_HANDLE),
    ("status0", ErrorCode.BAD_ADDRESS), ("status_misaligned", ErrorCode.BAD_ADDRESS),
    ("state0", ErrorCode.BAD_ADDRESS), ("req0", ErrorCode.BAD_ADDRESS), ("stale", ErrorCode.STALE_HANDLE),
    ("parent", ErrorCode.PARENT), ("capacity", ErrorCode.CAPACITY), ("order", ErrorCode.ORDER),
    ("duplicate", ErrorCode.DUPLICATE),
])
def test_terminate_entry_refusals(h, case, code):
    nb, pa, (t,) = tree(h)
    h.post(t, 1, 10)
    good = h.entry(t, idx(pa), 1)
    e = h.entry(t, idx(pa), 1)
    entries = [good, e]
    if case == "bad_type":
        e.handle = t & ~(3 << 24)
    elif case == "rsvd":
        e.handle = t | 1 << 30
    elif case == "range":
        e.handle = make_handle(ObjType.TCP, SMALL.n_tcp, 0)
    elif case == "status0":
        e.status_addr = 0
    elif case == "status_misaligned":
        e.status_addr += 2
    elif case == "state0":
        e.state_addr = 0
    elif case == "req0":
        e.req_addr = 0
    elif case == "stale":
        e.handle = make_handle(ObjType.TCP, 0, 7)
        entries = [e, good]
    elif case == "parent":
        e.parent = 3
        entries = [e, good]
    elif case == "capacity":
        e.req_cap = 0
        entries = [e, good]
    elif case == "order":
        e = h.entry(pa, idx(nb))
        entries = [e, good]
    c, ev = h.terminate(entries)
    k = entries.index(e)
    assert_refused(c, code, err_index=k)
    assert c["result"] == 1
    if case in ("status0", "status_misaligned"):
        if case == "status_misaligned":      # nothing written at or near the bad address
            assert h.memory.read(e.status_addr - 2, 8)[:4] == UNWRITTEN.to_bytes(4, "little")
    else:
        from chimney.contract import ERROR_STATUS
        assert h.status(e) == ERROR_STATUS[code]
    assert h.status(good) == 0
    if case != "duplicate":
        # the good entry after (or before) the refused one was processed: the row is gone
        assert h.engine.live_rows(ObjType.TCP) == []
    # a refused entry leaves the request header untouched
    if case in ("stale", "parent", "capacity"):
        assert h.memory.read(e.req_addr, 8) == b"\xa5" * 8


def test_duplicate_versus_stale(h):
    nb, pa, (t,) = tree(h)
    e1, e2 = h.entry(t, idx(pa)), h.entry(t, idx(pa))
    c, _ = h.terminate([e1, e2])
    assert_refused(c, ErrorCode.DUPLICATE, 1)
    e3 = h.entry(t, idx(pa))
    c, _ = h.terminate([e3])                         # a later command: STALE_HANDLE
    assert_refused(c, ErrorCode.STALE_HANDLE, 0)
    # QUERY never reports DUPLICATE
    nb2, pa2, (t2,) = nb, pa, tree_tcp(h, pa)
    c, _ = h.query([h.entry(t2, idx(pa)), h.entry(t2, idx(pa))])
    assert c["status"] == 0


def tree_tcp(h, pa):
    c, _ = h.offload(ObjType.TCP, pa, cookie=0x77, **TCP)
    return (c["result"],)


def test_list_command_refusals(h):
    nb, pa, (t,) = tree(h)
    e = h.entry(t, idx(pa))
    lst = h.list_addr([e])
    for count, addr, code in ((0, lst, ErrorCode.BAD_LENGTH), (65535, lst, ErrorCode.BAD_LENGTH),
                              (1, 0, ErrorCode.BAD_ADDRESS), (1, lst + 4, ErrorCode.BAD_ADDRESS)):
        for op in (Opcode.QUERY, Opcode.TERMINATE):
            c, _ = h.cmd(opcode=op, addr=addr, count=count)
            assert_refused(c, code)
            assert c["result"] == 0
    assert h.status(e) == UNWRITTEN


def test_list_dma_read_error_at_entry_k(h):
    nb, pa, tcps = tree(h, 3)
    es = [h.entry(x, idx(pa)) for x in tcps]
    lst = h.list_addr(es)
    h.engine.fail_dma(lst + 2 * 32, 32, write=False)
    c, _ = h.cmd(opcode=Opcode.TERMINATE, addr=lst, count=3)
    assert c["status"] == NdisStatus.DEVICE_DATA_ERROR and c["err_index"] == 2 and c["detail"] == ErrorCode.DMA_READ
    assert c["result"] == 0
    assert [h.status(e) for e in es] == [0, 0, UNWRITTEN]
    assert h.engine.live_rows(ObjType.TCP) == [2]


def test_list_dma_error_wins_over_earlier_refusal(h):
    """DECISION (as the RTL): the list read error is what the completion reports, so the
    driver knows entries err_index.. were not processed; `result` still counts the
    refused entry's Status word."""
    nb, pa, tcps = tree(h, 2)
    bad = h.entry(make_handle(ObjType.TCP, 9, 0), idx(pa))
    es = [bad, h.entry(tcps[0], idx(pa)), h.entry(tcps[1], idx(pa))]
    lst = h.list_addr(es)
    h.engine.fail_dma(lst + 64, 32, write=False)
    c, _ = h.cmd(opcode=Opcode.QUERY, addr=lst, count=3)
    assert_refused(c, ErrorCode.DMA_READ, 2)
    assert c["result"] == 1
    assert [h.status(e) for e in es] == [NdisStatus.INVALID_PARAMETER, NdisStatus.SUCCESS, UNWRITTEN]


def test_dma_write_error_halts(h):
    nb, pa, (t,) = tree(h)
    e = h.entry(t, idx(pa))
    h.engine.fail_dma(e.status_addr, 4, read=False)
    entries = h.submit(opcode=Opcode.QUERY, addr=h.list_addr([e]), count=1)
    assert entries == []
    eng = h.engine
    assert eng.reg("STATUS") & 0b100                      # HALTED (ENABLED stays, as the RTL)
    assert h.rings.err_seen >> ErrorCode.DMA_WRITE & 1 or eng.reg("ERR_STATUS") >> ErrorCode.DMA_WRITE & 1
    assert eng.reg("DMA_ERR_INFO") == (1 << 31) | (1 << 2) | 2
    assert eng.reg("DMA_ERR_ADDR_LO") == e.status_addr
    # nothing more happens until CTRL.RESET
    assert h.submit(opcode=Opcode.NOP) == []
    eng.clear_dma_faults()
    h.start()
    assert eng.reg("STATUS") & 0b1101 == 0b1001
    assert h.cmd(opcode=Opcode.NOP)[0]["status"] == 0


# --- UPDATE --------------------------------------------------------------------------------------
def test_update_cached_fields_and_crc(h):
    nb, pa, (t,) = tree(h)
    c, _ = h.update(ObjType.PATH, pa, PathMtu=9000)
    assert c["status"] == 0
    c, _ = h.update(ObjType.NEIGHBOR, nb, NicReachabilityDelta=1, HostReachabilityDelta=2, DlDestinationAddress=3, VlanId=4)
    assert c["status"] == 0
    f = h.engine.row_fields(ObjType.NEIGHBOR, 0)
    assert (f["NicReachabilityDelta"], f["HostReachabilityDelta"], f["DlDestinationAddress"], f["VlanId"]) == (
        NB["NicReachabilityDelta"], 2, 3, NB["VlanId"])          # only cached fields change
    assert h.engine.row_fields(ObjType.PATH, 0)["PathMtu"] == 9000
    before = [h.engine.peek("tcp_data", w) for w in range(10)]
    assert h.update(ObjType.TCP, t, State=9)[0]["status"] == 0
    assert [h.engine.peek("tcp_data", w) for w in range(10)] == before
    # the CRC was recomputed: a query still succeeds
    es = [h.entry(pa, idx(nb)), h.entry(nb)]
    assert h.query(es)[0]["result"] == 0


@pytest.mark.parametrize("case,code", [("obj_type", ErrorCode.BAD_HANDLE), ("type_mismatch", ErrorCode.BAD_HANDLE),
                                       ("addr", ErrorCode.BAD_ADDRESS), ("stale", ErrorCode.STALE_HANDLE),
                                       ("failed", ErrorCode.CONN_FAILED)])
def test_update_refusals(h, case, code):
    nb, pa, _ = tree(h, 0)
    cmd = dict(opcode=Opcode.UPDATE, obj_type=2, handle=pa, addr=h.load_block(ObjType.PATH, PathMtu=1))
    if case == "obj_type":
        cmd["obj_type"] = 0
    elif case == "type_mismatch":
        cmd["handle"] = nb
    elif case == "addr":
        cmd["addr"] = 0
    elif case == "stale":
        cmd["handle"] = make_handle(ObjType.PATH, 0, 3)
    elif case == "failed":
        h.engine.flip("path_ident", 0, 0b11)
    c, _ = h.cmd(**cmd)
    assert_refused(c, code)
    if case == "failed":
        m = h.engine.meta(ObjType.PATH, 0)
        assert m.failed and not m.poisoned


def test_unmapped_and_readonly_registers(h):
    eng = h.engine
    with pytest.raises(BusError):
        eng.read_reg(0xFFC)
    with pytest.raises(BusError):
        eng.write_reg(0x0FC, 1)
    assert eng.read_reg(0x002) == eng.reg("ID")          # decoded by word, as rtl/csr.py does
    eng.set_reg("CMD_COUNT", 1234)
    assert eng.reg("CMD_COUNT") == h.engine.cmd_count


def test_a_read_timeout_halts(h):
    """A read that never ends (the bus owes it for ever): DMA_READ with TIMEOUT, HALTED,
    no completion (the RTL's answer: test_reset_amaranth.py::
    test_a_read_that_never_ends_halts_until_reset); a SLVERR on the same read completes."""
    blk = h.load_block(ObjType.NEIGHBOR)
    h.engine.fail_dma(blk, 8, resp=2)
    c, _ = h.cmd(opcode=Opcode.OFFLOAD, obj_type=1, addr=blk)
    assert c["status"] == NdisStatus.DEVICE_DATA_ERROR and not h.engine.halted
    h.engine.dma_faults.clear()
    h.rings.err_seen = 0
    h.engine.fail_dma(blk, 8, timeout=True)
    prod = h.engine.reg("CPLQ_PROD")
    assert h.submit(opcode=Opcode.OFFLOAD, obj_type=1, addr=blk) == []      # no completion
    regs = Registers(h.engine, SMALL)
    assert regs.decode("STATUS", h.engine.reg("STATUS"))["HALTED"] == 1
    assert h.rings.err_seen == 1 << ErrorCode.DMA_READ               # read and cleared by the harness
    assert regs.decode("DMA_ERR_INFO", h.engine.reg("DMA_ERR_INFO")) == dict(RESP=0, WRITE=0, TIMEOUT=1, VALID=1)
    assert h.engine.reg("DMA_ERR_ADDR_LO") == blk and h.engine.reg("CPLQ_PROD") == prod


def test_update_dma_read_error_and_lost_meta(h):
    nb, pa, (t,) = tree(h)
    blk = h.load_block(ObjType.PATH, PathMtu=1)
    h.engine.fail_dma(blk, 8)
    c, _ = h.cmd(opcode=Opcode.UPDATE, obj_type=2, handle=pa, addr=blk)
    assert c["status"] == NdisStatus.DEVICE_DATA_ERROR and c["detail"] == ErrorCode.DMA_READ
    h.engine.clear_dma_faults()
    h.engine.flip("path_meta", 0, 0b11)
    c, ev = h.cmd(opcode=Opcode.UPDATE, obj_type=2, handle=pa, addr=blk)
    assert_refused(c, ErrorCode.CONN_FAILED)
    assert ev == [] and h.engine.meta(ObjType.PATH, 0).poisoned and h.engine.reg("QUARANTINED") == 1


def test_ecc_disabled_build():
    p = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, ecc=False)
    h = RawHost.over_model(p)
    assert h.engine.reg("CAPS") & 1 == 0
    nb, pa, (t,) = tree(h)
    assert h.engine.peek("tcp_meta", 0) >> 64 == 0            # no check bits stored
    h.post(t, 1, 10)
    e = h.entry(t, idx(pa), 1)
    c, _ = h.terminate([e])
    assert c["result"] == 0 and h.requests(e)[1][0]["cookie"] == 1
