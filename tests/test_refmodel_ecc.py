"""Reference model: ECC outcomes of injected faults, hardware failure, quarantine, scrubber."""

from itertools import combinations

import pytest

from chimney.contract import (ErrorCode, NdisStatus, ObjType, Opcode, Disposition, MEMORY_ID, make_handle,
                              TcpEventType)
from chimney.contract.ecc import H_COLUMNS, ecc_encode, ecc_decode, EccStatus
from chimney.sw.harness import RawHost

from test_refmodel_commands import SMALL, TCP, NB, tree, idx, assert_refused


@pytest.fixture
def h():
    return RawHost.over_model(SMALL, cmd_log2=4, cpl_log2=4, evt_log2=4)


def miscorrecting_triple():
    """Three data bits whose syndrome equals a fourth bit's column (SECDED miscorrects)."""
    cols = {c: j for j, c in enumerate(H_COLUMNS)}
    for a, b, c in combinations(range(64), 3):
        s = H_COLUMNS[a] ^ H_COLUMNS[b] ^ H_COLUMNS[c]
        if s in cols and cols[s] not in (a, b, c):
            return (1 << a) | (1 << b) | (1 << c)
    raise AssertionError("no aliasing triple")


def detected_triple():
    cols = set(H_COLUMNS)
    for a, b, c in combinations(range(64), 3):
        if H_COLUMNS[a] ^ H_COLUMNS[b] ^ H_COLUMNS[c] not in cols:
            return (1 << a) | (1 << b) | (1 << c)


def test_single_bit_corrected_and_written_back(h):
    nb, pa, (t,) = tree(h)
    eng = h.engine
    name, addr = eng.word_addr(ObjType.TCP, "data", 0, 2)
    good = eng.peek(name, addr)
    eng.flip(name, addr, 1 << 17)
    e = h.entry(t, idx(pa))
    c, ev = h.query([e])
    assert c["status"] == 0 and h.status(e) == 0 and ev == []
    assert eng.peek(name, addr) == good                                   # written back
    assert eng.reg("ECC_CE_COUNT") == 1 and eng.reg("ECC_UE_COUNT") == 0
    assert eng.reg("ECC_LAST_CE") == (1 << 31) | MEMORY_ID[name] << 24 | addr
    assert eng.reg("ECC_LAST_CE_SYN") == H_COLUMNS[17]
    assert h.rings.err_seen == 0 and eng.reg("ERR_STATUS") == 1 << ErrorCode.ECC_CORRECTED  # no ERR irq by default
    eng.set_reg("ECC_CTRL", 1)
    assert eng.reg("ECC_CE_COUNT") == 0 and eng.reg("ECC_LAST_CE") == 0


def test_check_bit_flip_corrected(h):
    nb, pa, (t,) = tree(h)
    h.engine.flip("tcp_meta", 0, 1 << 70)
    assert h.query([h.entry(t, idx(pa))])[0]["result"] == 0
    assert h.engine.reg("ECC_CE_COUNT") == 1


def failure_sequence(h, flip):
    """Offload, post 3 requests, corrupt with `flip(engine)`, terminate twice."""
    nb, pa, (t, other) = tree(h, 2)
    for i, recv in enumerate((False, True, False)):
        h.post(t, 50 + i, 100 + i, recv=recv)
    h.post(other, 70, 7)
    flip(h.engine)
    e1 = h.entry(t, idx(pa), 3)
    c1, ev1 = h.terminate([e1])
    e2 = h.entry(t, idx(pa), 3)
    c2, ev2 = h.terminate([e2])
    return t, other, pa, (c1, ev1, e1), (c2, ev2, e2)


def check_first_failure(h, t, c1, ev1, e1, list_lost=0):
    assert c1["status"] == 0 and c1["result"] == 1 and c1["err_index"] == 0xFFFF
    assert h.status(e1) == NdisStatus.FAILURE
    assert h.delegated(e1, 3) is None                    # no delegated bytes
    assert h.requests(e1)[0] == dict(count=0, list_lost=list_lost, rsvd=0)
    assert [(e["type"], e["info"]) for e in ev1] == [(3, 11), (4, 0)]
    assert [e["seq"] for e in ev1] == [c1["seq"] + 1, c1["seq"] + 2]
    assert all(e["handle"] == t for e in ev1)


def test_double_bit_in_data_full_failure_sequence(h):
    t, other, pa, (c1, ev1, e1), (c2, ev2, e2) = failure_sequence(
        h, lambda eng: eng.flip(*eng.word_addr(ObjType.TCP, "data", 0, 5), 0b1001))
    check_first_failure(h, t, c1, ev1, e1)
    assert all(e["host_handle"] == 0x3000 for e in ev1)
    # each terminate reads the whole row (the data words with the meta word), so the lost
    # word is counted by both
    assert h.engine.reg("ECC_UE_COUNT") == 2 and h.engine.reg("ECC_LAST_UE_SYN") >> 8 == 1
    # the host's next terminate: ABORTED records, FAILURE, the row is freed
    assert c2["status"] == 0 and c2["result"] == 1 and ev2 == []
    assert h.status(e2) == NdisStatus.FAILURE and h.delegated(e2, 3) is None
    hdr, recs = h.requests(e2)
    assert hdr["count"] == 3 and hdr["list_lost"] == 0
    assert [(r["cookie"], r["disposition"]) for r in recs] == [(50 + i, Disposition.ABORTED) for i in range(3)]
    m = h.engine.meta(ObjType.TCP, 0)
    assert (m.valid, m.gen) == (0, 1)
    assert h.engine.meta(ObjType.PATH, 0).refcount == 1          # the other connection
    # the other connection is unaffected
    e3 = h.entry(other, idx(pa), 1)
    c3, _ = h.terminate([e3])
    assert c3["result"] == 0 and h.requests(e3)[1][0]["disposition"] == Disposition.RETURNED


def test_between_failure_and_final_terminate(h):
    nb, pa, (t,) = tree(h)
    h.post(t, 1, 10)
    h.engine.flip("tcp_ident", 0, 0b110)
    e = h.entry(t, idx(pa), 1)
    c, ev = h.query([e])
    assert h.status(e) == NdisStatus.FAILURE and len(ev) == 2
    assert ev[0]["host_handle"] == 0                     # ident lost: host_handle 0
    c, ev = h.query([h.entry(t, idx(pa), 1)])          # FAILURE again, no new events
    assert c["result"] == 1 and ev == []
    c, ev = h.post(t, 2, 10)
    assert_refused(c, ErrorCode.CONN_FAILED)
    c, _ = h.update(ObjType.TCP, t)
    assert_refused(c, ErrorCode.CONN_FAILED)
    e = h.entry(t, idx(pa), 0)
    c, _ = h.terminate([e])
    assert_refused(c, ErrorCode.CAPACITY, 0)              # still needs room for its request
    e = h.entry(t, idx(pa), 1)
    c, _ = h.terminate([e])
    assert h.requests(e)[0]["count"] == 1 and h.status(e) == NdisStatus.FAILURE


def test_triple_flip_miscorrected_caught_by_crc(h):
    mask = miscorrecting_triple()
    data = 0x0123456789ABCDEF
    _, st, _ = ecc_decode(ecc_encode(data) ^ mask)
    assert st == EccStatus.CORRECTED
    t, other, pa, (c1, ev1, e1), _ = failure_sequence(
        h, lambda eng: eng.flip(*eng.word_addr(ObjType.TCP, "data", 0, 0), mask))
    check_first_failure(h, t, c1, ev1, e1)
    eng = h.engine
    assert eng.reg("ECC_CE_COUNT") == 1                           # it looked like one flip
    assert eng.reg("ECC_LAST_UE_SYN") == 2 << 8                   # KIND 2: CRC mismatch
    assert eng.reg("ECC_LAST_UE") == (1 << 31) | MEMORY_ID["tcp_data"] << 24 | 0     # row 0


def test_triple_flip_detected(h):
    mask = detected_triple()
    t, other, pa, (c1, ev1, e1), _ = failure_sequence(
        h, lambda eng: eng.flip(*eng.word_addr(ObjType.TCP, "data", 0, 9), mask))
    check_first_failure(h, t, c1, ev1, e1)
    assert h.engine.reg("ECC_LAST_UE_SYN") >> 8 == 1


def test_meta_loss_poisons_quarantines_and_keeps_parent_count(h):
    t, other, pa, (c1, ev1, e1), (c2, ev2, e2) = failure_sequence(
        h, lambda eng: eng.flip("tcp_meta", 0, 0b11 << 40))
    check_first_failure(h, t, c1, ev1, e1, list_lost=1)
    assert ev1[0]["host_handle"] == 0x3000
    hdr, recs = h.requests(e2)
    assert hdr == dict(count=0, list_lost=1, rsvd=0) and h.status(e2) == NdisStatus.FAILURE
    eng = h.engine
    m = eng.meta(ObjType.TCP, 0)
    assert m.quarantined and eng.reg("QUARANTINED") == 1
    assert eng.meta(ObjType.PATH, 0).refcount == 1                # entry's parent trusted
    # the quarantined row is never allocated again
    for _ in range(SMALL.n_tcp - 2):
        assert h.offload(ObjType.TCP, pa, cookie=1, **TCP)[0]["status"] == 0
    assert_refused(h.offload(ObjType.TCP, pa, cookie=1, **TCP)[0], ErrorCode.TABLE_FULL)


def test_poisoned_row_accepts_any_generation_and_duplicate(h):
    nb, pa, (t,) = tree(h)
    h.engine.flip("tcp_meta", 0, 0b11)
    e = h.entry(make_handle(ObjType.TCP, 0, 77), idx(pa))
    c, ev = h.terminate([e])
    assert h.status(e) == NdisStatus.FAILURE and ev[0]["handle"] == make_handle(ObjType.TCP, 0, 77)
    m = h.engine.meta(ObjType.TCP, 0)
    assert (m.valid, m.failed, m.poisoned, m.gen) == (1, 1, 1, 77)       # poisoned with the entry's gen
    assert h.engine.reg("QUARANTINED") == 1                               # counted when poisoned
    e1, e2 = h.entry(t, idx(pa)), h.entry(t, idx(pa))
    c, _ = h.terminate([e1, e2])
    assert h.status(e1) == NdisStatus.FAILURE
    assert h.requests(e1)[0] == dict(count=0, list_lost=1, rsvd=0)
    assert_refused(c, ErrorCode.STALE_HANDLE, 1)          # a quarantined row is never DUPLICATE
    assert h.engine.meta(ObjType.TCP, 0).quarantined and h.engine.reg("QUARANTINED") == 1


def test_lost_pool_entry_ends_the_list(h):
    nb, pa, (t,) = tree(h)
    for i in range(4):
        h.post(t, 10 + i, 5)
    h.engine.flip("req_pool", 2, 0b101 << 10)
    e1 = h.entry(t, idx(pa), 4)
    c, ev = h.terminate([e1])
    check_first_failure(h, t, c, ev, e1)
    assert h.engine.reg("QUARANTINED") == 1
    e2 = h.entry(t, idx(pa), 4)
    h.terminate([e2])
    hdr, recs = h.requests(e2)
    assert hdr["list_lost"] == 1 and [r["cookie"] for r in recs] == [10, 11]
    assert all(r["disposition"] == Disposition.ABORTED for r in recs)
    assert h.engine.tables.decode_entry(h.engine._decode_quiet("req_pool", 2)).poisoned


def test_lost_tail_entry_fails_post(h):
    nb, pa, (t,) = tree(h)
    h.post(t, 1, 5)
    h.engine.flip("req_pool", 0, 0b11)
    c, ev = h.post(t, 2, 5)
    assert_refused(c, ErrorCode.CONN_FAILED)
    assert [e["type"] for e in ev] == [3, 4]


def test_path_failure_no_events_dependents_unaffected(h):
    nb, pa, (t,) = tree(h)
    h.engine.flip("path_data", 0, 0b11)
    ep, et, en = h.entry(pa, idx(nb)), h.entry(t, idx(pa)), h.entry(nb)
    c, ev = h.terminate([et, ep, en])
    assert ev == [] and [h.status(x) for x in (et, ep, en)] == [0, NdisStatus.FAILURE, 0]
    assert c["result"] == 1 and c["status"] == 0
    for ty in ObjType:
        assert h.engine.live_rows(ty) == []


def test_poisoned_path_quarantined_neighbor_count_kept(h):
    nb, pa, (t,) = tree(h)
    h.engine.flip("path_meta", 0, 0b11)
    et, ep, en = h.entry(t, idx(pa)), h.entry(pa, idx(nb)), h.entry(nb)
    c, ev = h.terminate([et, ep, en])
    # the TCP row still has a healthy meta: it decrements nothing on the (now poisoned) path
    assert [h.status(x) for x in (et, ep, en)] == [0, NdisStatus.FAILURE, 0]
    assert h.engine.reg("QUARANTINED") == 1 and h.engine.meta(ObjType.PATH, 0).quarantined


def test_errinj_registers_flip_next_write(h):
    eng = h.engine
    eng.set_reg("ERRINJ_MASK_LO", 1 << 3)
    eng.set_reg("ERRINJ_CTRL", MEMORY_ID["tcp_ident"] << 8 | 1)
    assert eng.reg("ERRINJ_CTRL") & 1
    nb, pa, (t,) = tree(h)
    assert not eng.reg("ERRINJ_CTRL") & 1                 # applied, ARM cleared
    _, st, _ = ecc_decode(eng.peek("tcp_ident", 0))
    assert st == EccStatus.CORRECTED
    assert h.query([h.entry(t, idx(pa))])[0]["result"] == 0 and eng.reg("ECC_CE_COUNT") == 1


def test_scrubber_pass(h):
    nb, pa, (t0, t1, t2) = tree(h, 3)
    eng = h.engine
    eng.flip("tcp_data", 1 * 10 + 3, 1 << 5)             # t1: corrected
    eng.flip("tcp_data", 2 * 10 + 7, 0b11)               # t2: lost data -> failed
    eng.flip("tcp_meta", 0, 0b11 << 20)                  # t0: lost meta -> poisoned
    eng.flip("path_ident", 0, 0b11)                      # path: failed, no events
    eng.flip("req_pool", 5, 0b11)                        # free entry lost -> quarantined
    eng.flip("tcp_meta", 9, 0b11)                        # a free row's meta lost -> poisoned
    eng.set_reg("SCRUB_CTRL", 1)
    assert eng.reg("SCRUB_PASSES") == 1
    ev = [e.fields for e in h.collect() if e.kind == "evt"]
    assert [(e["handle"], e["type"]) for e in ev] == [
        (make_handle(3, 0, 0), 3), (make_handle(3, 0, 0), 4), (t2, 3), (t2, 4),
        (make_handle(3, 9, 0), 3), (make_handle(3, 9, 0), 4)]
    assert eng.meta(ObjType.TCP, 0).poisoned and eng.meta(ObjType.TCP, 2).failed
    assert not eng.meta(ObjType.TCP, 2).poisoned and not eng.meta(ObjType.TCP, 1).failed
    assert eng.meta(ObjType.PATH, 0).failed
    # 5 lost words; the engine reads the meta and ident words of each reported row again
    # (as the RTL), so the two lost meta words and the lost path ident count twice
    assert eng.reg("QUARANTINED") == 3 and eng.reg("ECC_CE_COUNT") == 1 and eng.reg("ECC_UE_COUNT") == 8
    # a second pass finds nothing new
    eng.set_reg("SCRUB_CTRL", 1)
    assert eng.reg("SCRUB_PASSES") == 2 and [e for e in h.collect() if e.kind == "evt"] == []
    # the failed objects' terminates: TCP ones are final (already failed), the path FAILURE
    es = [h.entry(x, idx(pa), 0) for x in (t0, t1, t2)] + [h.entry(pa, idx(nb)), h.entry(nb)]
    c, ev = h.terminate(es)
    assert ev == [] and [h.status(e) for e in es] == [NdisStatus.FAILURE, 0, NdisStatus.FAILURE, NdisStatus.FAILURE, 0]
    assert h.requests(es[0])[0]["list_lost"] == 1 and h.requests(es[2])[0]["list_lost"] == 0


def test_periodic_scrub_steps(h):
    nb, pa, (t,) = tree(h)
    eng = h.engine
    eng.flip("tcp_data", 4, 0b11)
    assert eng.scrub_steps(1000) == 0                     # SCRUB_EN off
    eng.set_reg("CTRL", 0b11)
    steps = SMALL.n_neighbor + SMALL.n_path + SMALL.n_tcp + SMALL.n_req     # one row / entry per step
    assert eng.scrub_steps(steps - 1) == steps - 1
    assert eng.reg("SCRUB_PASSES") == 0 and eng.meta(ObjType.TCP, 0).failed
    eng.scrub_steps(1)
    assert eng.reg("SCRUB_PASSES") == 1
    assert [e.fields["type"] for e in h.collect() if e.kind == "evt"] == [3, 4]


def test_scrub_steps_interleave_with_commands(h):
    nb, pa, (t,) = tree(h)
    eng = h.engine
    eng.set_reg("CTRL", 0b11)
    eng.scrub_steps(SMALL.n_neighbor + SMALL.n_path)      # the TCP table is next
    h.update(ObjType.TCP, t)
    h.post(t, 5, 5)
    eng.scrub_steps(10_000)
    assert not eng.meta(ObjType.TCP, 0).failed and eng.reg("SCRUB_PASSES") >= 1
    assert h.collect() == []
