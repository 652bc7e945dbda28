"""The driver (ChimneyDriver) over the reference model, at the NDIS edge."""

import copy
import random

import pytest

from chimney.contract import EngineParams, NdisStatus, ObjType, TcpEventType, Opcode, split_handle
from chimney.sw.bus import DeviceTimeout
from chimney.sw.driver import DriverConsistencyError, DriverTimeout
from chimney.sw.harness import DriverBench, run_sync
from chimney.sw.ndis import (HeaderType, NetBufferList, build_tree, walk_tree, sub_tree, iter_chain,
                             delegated_values, PathCached, NeighborCached, link_siblings)
from chimney.sw.rings import DeviceError

PARAMS = EngineParams(n_neighbor=8, n_path=16, n_tcp=64, n_req=256)
SHAPE = [[3, 2, 0], [4], [1, 5]]          # 3 neighbors, 6 paths, 15 connections


def tcps(tree):
    return [b for b in walk_tree(tree) if b.header_type == HeaderType.TCP]


def snapshot(tree):
    return {id(b): delegated_values(b) for b in walk_tree(tree)}


def nbls(prefix, lengths):
    return [NetBufferList(n, name=f"{prefix}{i}") for i, n in enumerate(lengths)]


@pytest.fixture
def bench():
    return DriverBench(PARAMS, ring_log2=3)


@pytest.fixture
def offloaded(bench):
    tree = build_tree(random.Random(5), SHAPE)
    snap = snapshot(tree)
    bench.initiate(tree)
    bench.host.clear()
    return bench, tree, snap


def test_driver_programs_dma_windows():
    """The driver's DMA windows (EngineRings(windows=...)): memory-wide ones change nothing;
    windows that leave out the rings stop the bring-up with the engine's refusal."""
    b = DriverBench(PARAMS, ring_log2=3, mem_size=1 << 23, windows=[(0, (1 << 23) - 1)])
    assert [b.engine.reg(f"WIN0_{r}") for r in ("BASE_LO", "LIMIT_LO", "LIMIT_HI")] == [0, (1 << 23) - 1, 0]
    tree = build_tree(random.Random(1), SHAPE)
    b.initiate(tree)
    b.terminate(tree)
    assert all(x.status == NdisStatus.SUCCESS for x in walk_tree(tree)) and b.driver.errors == []
    with pytest.raises(DeviceError, match="ENABLED"):
        DriverBench(PARAMS, ring_log2=3, windows=[(1 << 22, (1 << 22) + 0xFFF)])   # not the rings
    with pytest.raises(ValueError, match="8-byte"):
        DriverBench(PARAMS, ring_log2=3, windows=[(0x1004, 0x1FFF)])


def test_initiate_realistic_tree(bench):
    tree = build_tree(random.Random(1), SHAPE)
    bench.initiate(tree)
    assert bench.host.names() == ["initiate_offload_complete"]
    blocks = list(walk_tree(tree))
    assert all(b.status == NdisStatus.SUCCESS for b in blocks)
    assert len({b.miniport_offload_context for b in blocks}) == len(blocks)
    eng = bench.engine
    assert len(eng.live_rows(ObjType.TCP)) == 15 and len(eng.live_rows(ObjType.PATH)) == 6
    for b in tcps(tree):
        assert eng.row_fields(*bench.row(b))["RcvNxt"] == b.delegated.RcvNxt
    for nb in tree.siblings():
        assert eng.meta(*bench.row(nb)).refcount == len(nb.dependents())
    assert bench.driver.errors == []


def test_full_terminate_hands_back_sends_and_completes_receives(offloaded):
    bench, tree, snap = offloaded
    conns = tcps(tree)
    sends = {c.name: nbls(c.name + "s", [100 + i for i in range(i % 3)]) for i, c in enumerate(conns)}
    recvs = {c.name: nbls(c.name + "r", [500] * (i % 2)) for i, c in enumerate(conns)}
    for c in conns:
        bench.send(c, sends[c.name])
        bench.receive(c, recvs[c.name])
    assert bench.host.log == []                    # posted, nothing completes yet
    bench.terminate(tree)
    log = bench.host.log
    assert log[-1].name == "terminate_offload_complete" and log[-1].obj is tree
    assert [c.name for c in log[:-1]] == ["receive_complete"] * sum(len(v) for v in recvs.values())
    assert all(c.a == NdisStatus.UPLOAD_IN_PROGRESS for c in log[:-1])
    for b in walk_tree(tree):
        assert b.status == NdisStatus.SUCCESS
        assert delegated_values(b) == snap[id(b)]
    for c in conns:
        chain = list(iter_chain(c.net_buffer_list_chain))
        assert chain == sends[c.name]
        assert c.delegated.SendDataHead is (chain[0] if chain else None)
        assert c.delegated.SendDataTail is (chain[-1] if chain else None)
    for t in ObjType:
        assert bench.engine.live_rows(t) == []
    assert bench.driver.objects == {} and bench.driver.errors == []


def test_partial_terminate_query_update(offloaded):
    bench, tree, snap = offloaded
    conns = tcps(tree)
    chosen = conns[::3]
    part = sub_tree(chosen)
    bench.terminate(part)
    assert all(b.status == 0 and delegated_values(b) == snap[id(b.origin)] for b in part.siblings())
    rest = [c for c in conns if c not in chosen]
    q = sub_tree(rest + [p for nb in tree.siblings() for p in nb.dependents()] + list(tree.siblings()))
    bench.query(q)
    assert bench.host.names()[-1] == "query_offload_complete"
    assert all(b.status == 0 and delegated_values(b) == snap[id(b.origin)] for b in q.siblings())
    assert len(bench.engine.live_rows(ObjType.TCP)) == len(rest)
    path = tree.dependent_block_list
    upd = sub_tree([path, tree])
    upd.cached = NeighborCached(DlDestinationAddress=0x0200000000AA, HostReachabilityDelta=5)
    upd.next_block = None
    path_copy = upd
    path_copy.cached = PathCached(PathMtu=1280)
    nb_copy = sub_tree([tree])
    nb_copy.cached = NeighborCached(DlDestinationAddress=0x0200000000AA, HostReachabilityDelta=5)
    bench.update(path_copy)
    bench.update(nb_copy)
    assert path_copy.status == 0 and nb_copy.status == 0
    assert bench.engine.row_fields(*bench.row(path))["PathMtu"] == 1280
    f = bench.engine.row_fields(*bench.row(tree))
    assert f["DlDestinationAddress"] == 0x0200000000AA and f["NicReachabilityDelta"] == tree.delegated.NicReachabilityDelta
    assert bench.driver.errors == []


def lose_data(bench, block):
    t, i = bench.row(block)
    bench.engine.flip(*bench.engine.word_addr(t, "data", i, 1), 0b11 << 30)


def test_failure_sequence_at_the_ndis_edge(offloaded):
    bench, tree, snap = offloaded
    conns = tcps(tree)
    victim, other = conns[1], conns[2]
    s = nbls("s", [10, 20, 30])
    r = nbls("r", [40, 50])
    bench.send(victim, s[:2])
    bench.receive(victim, r)
    bench.send(victim, s[2:])
    bench.send(other, nbls("o", [7]))
    lose_data(bench, victim)
    part = sub_tree([victim, other])
    bench.terminate(part)
    log = bench.host.log
    vb, ob = list(part.siblings())
    assert [(c.name, c.a, c.b) for c in log] == [
        ("terminate_offload_complete", None, None),
        ("indicate_event", TcpEventType.RETRIEVE, 11),
        ("indicate_event", TcpEventType.ABORT, 0)]
    assert log[1].obj is victim and log[2].obj is victim
    assert vb.status == NdisStatus.FAILURE and vb.net_buffer_list_chain is None
    assert ob.status == NdisStatus.SUCCESS and delegated_values(ob) == snap[id(other)]
    assert [n.name for n in iter_chain(ob.net_buffer_list_chain)] == ["o0"]
    bench.host.clear()
    again = sub_tree([victim])
    bench.terminate(again)
    log = bench.host.log
    assert [(c.name, c.obj.name, c.a) for c in log] == [
        ("send_complete", "s0", NdisStatus.REQUEST_ABORTED), ("send_complete", "s1", NdisStatus.REQUEST_ABORTED),
        ("receive_complete", "r0", NdisStatus.REQUEST_ABORTED), ("receive_complete", "r1", NdisStatus.REQUEST_ABORTED),
        ("send_complete", "s2", NdisStatus.REQUEST_ABORTED), ("terminate_offload_complete", victim.name, None)]
    assert again.status == NdisStatus.FAILURE
    assert bench.driver.errors == [] and bench.driver.lookup(victim) is None
    # the rest of the tree terminates normally
    bench.host.clear()
    rest = sub_tree([c for c in conns if c not in (victim, other)])
    bench.terminate(rest)
    assert all(b.status == 0 for b in rest.siblings())
    bench.terminate(sub_tree([p for nb in tree.siblings() for p in nb.dependents()] + list(tree.siblings())))
    for t in ObjType:
        assert bench.engine.live_rows(t) == []


def test_post_to_failed_connection_aborts_at_once(offloaded):
    bench, tree, _ = offloaded
    victim = tcps(tree)[0]
    bench.engine.flip(*bench.engine.word_addr(ObjType.TCP, "meta", bench.row(victim)[1]), 0b11)
    n = NetBufferList(99, name="late")
    bench.send(victim, [n])
    assert [(c.name, c.a) for c in bench.host.log] == [
        ("send_complete", NdisStatus.REQUEST_ABORTED), ("indicate_event", TcpEventType.RETRIEVE),
        ("indicate_event", TcpEventType.ABORT)]
    bench.host.clear()
    part = sub_tree([victim])
    bench.terminate(part)                # final: poisoned, list lost, nothing outstanding
    assert part.status == NdisStatus.FAILURE and bench.host.names() == ["terminate_offload_complete"]
    assert bench.engine.reg("QUARANTINED") == 1 and bench.driver.errors == []


def test_scrubber_failure_then_terminate(offloaded):
    bench, tree, _ = offloaded
    victim = tcps(tree)[4]
    bench.receive(victim, nbls("r", [10, 20]))
    bench.engine.flip(*bench.engine.word_addr(ObjType.TCP, "meta", bench.row(victim)[1]), 0b101 << 8)
    bench.engine.scrub_pass()
    run_sync(bench.driver.run_until_idle())
    assert [(c.name, c.obj, c.a) for c in bench.host.log] == [
        ("indicate_event", victim, TcpEventType.RETRIEVE), ("indicate_event", victim, TcpEventType.ABORT)]
    bench.host.clear()
    part = sub_tree([victim])
    bench.terminate(part)
    # list_lost: the driver completes its shadow with REQUEST_ABORTED, then the terminate
    assert [(c.name, c.a) for c in bench.host.log] == [
        ("receive_complete", NdisStatus.REQUEST_ABORTED), ("receive_complete", NdisStatus.REQUEST_ABORTED),
        ("terminate_offload_complete", None)]
    assert bench.driver.errors == []


def test_scrubber_poisons_free_row_is_only_a_warning(offloaded):
    bench, tree, _ = offloaded
    bench.engine.flip("tcp_meta", PARAMS.n_tcp - 1, 0b11)
    bench.engine.scrub_pass()
    run_sync(bench.driver.run_until_idle())
    assert bench.host.log == [] and bench.driver.errors == [] and len(bench.driver.warnings) == 2


def test_small_rings_queue_in_the_driver():
    bench = DriverBench(PARAMS, ring_log2=1)
    tree = build_tree(random.Random(9), [[6, 6], [6]])
    bench.initiate(tree)
    for c in tcps(tree):
        bench.run(bench.driver.tcp_offload_send(c, nbls(c.name, [1, 2, 3])))
    bench.terminate(tree)
    assert all(b.status == 0 for b in walk_tree(tree))
    assert all(len(list(iter_chain(c.net_buffer_list_chain))) == 3 for c in tcps(tree))
    assert bench.driver.errors == []


def test_engine_side_corruption_is_reported_and_contained(offloaded):
    bench, tree, _ = offloaded
    c = tcps(tree)[0]
    sends = nbls("s", [11, 22, 33])
    bench.send(c, sends)
    eng = bench.engine
    idx = eng.request_indexes(bench.row(c)[1])
    e = eng.tables.decode_entry(eng._decode_quiet("req_pool", idx[1]))
    e.cookie ^= 0x4000                     # a silent (valid-codeword) corruption
    eng.tables.write_entry(idx[1], e)
    part = sub_tree([c])
    bench.terminate(part)
    assert any(isinstance(x, DriverConsistencyError) for x in bench.driver.errors)
    # nothing lost, nothing twice: every send is handed back exactly once, in order
    assert list(iter_chain(part.net_buffer_list_chain)) == sends
    assert bench.host.calls("send_complete") == []


def test_dma_read_error_on_list_leaves_objects_offloaded(offloaded):
    bench, tree, snap = offloaded
    conns = tcps(tree)[:3]
    bench.engine.dma_hook = lambda addr, n, write: 2 if (not write and n == 32 and bench._fail_next()) else None
    calls = iter([False, False, False, True])     # command fetch, entry 0, entry 1, entry 2
    bench._fail_next = lambda: next(calls, False)
    part = sub_tree(conns)
    bench.terminate(part)
    assert [b.status for b in part.siblings()] == [0, 0, NdisStatus.DEVICE_DATA_ERROR]
    bench.engine.dma_hook = None
    again = sub_tree(conns[2:])
    bench.terminate(again)
    assert again.status == 0 and delegated_values(again) == snap[id(conns[2])]
    assert bench.driver.errors == []


def test_timeout_and_halt(offloaded):
    bench, tree, _ = offloaded
    bench.engine.set_reg("CTRL", 0)          # engine stopped: the query never completes
    run_sync(bench.driver.query_offload(sub_tree(tcps(tree)[:1])))
    with pytest.raises(DriverTimeout):
        run_sync(bench.driver.run_until_idle(timeout_ns=1000))
    bench2 = DriverBench(PARAMS)
    t2 = build_tree(random.Random(2), [[1]])
    bench2.initiate(t2)
    c = tcps(t2)[0]
    bench2.engine.dma_hook = lambda addr, n, write: 2 if write and n == 4 else None
    bench2.host.clear()
    q = sub_tree([c])
    run_sync(bench2.driver.query_offload(q))
    run_sync(bench2.driver.run_until_idle())        # the adapter failed: the driver ends everything
    assert bench2.driver.halted
    assert q.status == NdisStatus.FAILURE
    assert [(x.name, getattr(x.obj, "name", None), x.a) for x in bench2.host.log] == [
        ("query_offload_complete", q.name, None),
        ("indicate_event", c.name, TcpEventType.RETRIEVE), ("indicate_event", c.name, TcpEventType.ABORT)]
    # the host terminates it: the driver completes it itself, the engine is not asked
    nbl = NetBufferList(10, name="late")
    run_sync(bench2.driver.tcp_offload_send(c, [nbl]))
    run_sync(bench2.driver.run_until_idle())
    assert nbl.status == NdisStatus.REQUEST_ABORTED
    bench2.terminate(sub_tree([c]))
    assert bench2.host.log[-1].name == "terminate_offload_complete"


def test_driver_runs_under_asyncio():
    import asyncio
    bench = DriverBench(PARAMS)
    tree = build_tree(random.Random(3), [[2]])

    async def main():
        await bench.driver.initiate_offload(tree)
        await bench.driver.run_until_idle()
        await bench.driver.terminate_offload(tree)
        await bench.driver.run_until_idle()

    asyncio.run(main())
    assert bench.host.names() == ["initiate_offload_complete", "terminate_offload_complete"]


def test_whole_tree_terminate_with_a_failing_connection(offloaded):
    """Lead decision b (meta `detached`): the terminate that finds a connection lost
    releases its reference on the path at once, so the path and the neighbor listed
    after it end with SUCCESS in the same command. The connection stays (failed) until
    the host terminates it again; that terminate does not release the path again."""
    bench, tree, snap = offloaded
    nb = tree
    path = nb.dependent_block_list
    victim = path.dependent_block_list
    bench.send(victim, nbls("s", [7]))
    lose_data(bench, victim)
    bench.host.clear()
    bench.terminate(tree)
    assert victim.status == NdisStatus.FAILURE
    others = [b for b in walk_tree(tree) if b is not victim]
    assert all(b.status == NdisStatus.SUCCESS for b in others)
    assert [(c.name, c.a) for c in bench.host.log] == [
        ("terminate_offload_complete", None), ("indicate_event", TcpEventType.RETRIEVE),
        ("indicate_event", TcpEventType.ABORT)]
    eng = bench.engine
    vt, vi = bench.row(victim)
    assert eng.meta(vt, vi).failed and eng.meta(vt, vi).detached
    assert eng.live_rows(ObjType.PATH) == [] and eng.live_rows(ObjType.NEIGHBOR) == []
    assert eng.live_rows(ObjType.TCP) == [vi]
    assert bench.driver.lookup(path) is None and bench.driver.lookup(victim) is not None
    # another tree is offloaded before the host terminates the victim again
    tree2 = build_tree(random.Random(8), [[1]])
    bench.initiate(tree2)
    bench.host.clear()
    again = sub_tree([victim])
    bench.terminate(again)
    assert victim.status == NdisStatus.FAILURE
    assert [(c.name, c.a) for c in bench.host.log] == [
        ("send_complete", NdisStatus.REQUEST_ABORTED), ("terminate_offload_complete", None)]
    assert eng.live_rows(ObjType.TCP) == [bench.row(tcps(tree2)[0])[1]]
    # the new path's count was not touched by the victim's final terminate
    assert eng.meta(*bench.row(tree2.dependent_block_list)).refcount == 1
    bench.terminate(tree2)
    assert all(b.status == NdisStatus.SUCCESS for b in walk_tree(tree2))
    for t in ObjType:
        assert eng.live_rows(t) == []
    assert bench.driver.errors == []


def test_meta_lost_during_final_terminate_fails_again(offloaded):
    """D7, and 19b: the path reference is given back once, by the first finding; the
    driver lists the connection as detached from then on, so the final terminates that
    find the meta word lost leave the path's count alone."""
    bench, tree, _ = offloaded
    victim = tcps(tree)[3]
    path = next(b for b in walk_tree(tree) if victim in b.dependents())
    count = lambda: bench.engine.meta(*bench.row(path)).refcount
    before = count()
    bench.send(victim, nbls("s", [5, 6]))
    lose_data(bench, victim)
    bench.terminate(sub_tree([victim]))                   # first finding
    assert count() == before - 1 and bench.driver.lookup(victim).detached
    bench.engine.flip(*bench.engine.word_addr(ObjType.TCP, "meta", bench.row(victim)[1]), 0b11 << 4)
    bench.host.clear()
    bench.terminate(sub_tree([victim]))                   # "final", but the meta is lost now
    assert [(c.name, c.a) for c in bench.host.log] == [
        ("send_complete", NdisStatus.REQUEST_ABORTED), ("send_complete", NdisStatus.REQUEST_ABORTED),
        ("terminate_offload_complete", None), ("indicate_event", TcpEventType.RETRIEVE),
        ("indicate_event", TcpEventType.ABORT)]
    bench.host.clear()
    last = sub_tree([victim])
    bench.terminate(last)
    assert last.status == NdisStatus.FAILURE and bench.host.names() == ["terminate_offload_complete"]
    assert bench.driver.errors == [] and bench.engine.reg("QUARANTINED") == 1
    assert bench.driver.lookup(victim) is None
    assert count() == before - 1                          # the path's other connections only
