"""Differential tests: the RTL (whole engine in Amaranth's simulator) against RefEngine.

Each test runs one scenario of raw ring operations on both, with the same host-memory
layout, and compares byte for byte every completion and event entry (seq and phase
included), every Status word, the delegated bytes, request headers and records up to
`count`, all host memory the scenario allocated (request bytes past `count` excepted:
the contract leaves them undefined), registers at checkpoints and at the end, and
every stored word of the ten ECC memories. See tests/scenarios/diff.py.

The random tests print their seed (fixed by default); CHIMNEY_SEED=<n> reruns one,
CHIMNEY_SEED=random draws a new one.
"""

import random

import pytest

from chimney.contract import (ObjType, Opcode, NdisStatus, ErrorCode, MEMORY_ID, MAX_LIST_ENTRIES, make_handle,
                              data_words, memory_depth, LIST_ENTRY)
from chimney.contract import DATA, DELEGATED
from chimney.contract.ecc import ecc_encode
from chimney.contract.windows import reset_windows
from scenarios.diff import (SMALL, differential, tree, tcp_fields, path_fields, neighbor_fields, index,
                            seed_from_env, reset, apply_fault)

TCP, PATH, NB = ObjType.TCP, ObjType.PATH, ObjType.NEIGHBOR


def run(scenario, **kw):
    differential(scenario, **kw)


def chain(*scenarios):
    """Several scenarios in one simulation (elaborating the engine costs seconds), with
    a register checkpoint and CTRL.RESET between them."""
    async def scenario(h):
        for i, s in enumerate(scenarios):
            if i:
                await reset(h, f"end of {scenarios[i - 1].__name__}")
            await s(h)
    scenario.__name__ = "+".join(s.__name__ for s in scenarios)
    return scenario


# ======================================================================================
# every opcode, every refusal class
# ======================================================================================
async def command_refusals(h):
    rng = random.Random(1)
    await h.run(Opcode.NOP)
    for op in (7, 8, 15, 0x16, 0xFF):                                  # BAD_OPCODE (4-bit field: low bits)
        await h.run(op)
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    blk = h.load_block(TCP, tcp_fields(rng))
    # OFFLOAD: obj_type, address, parent, state
    for obj_type in (0, 4, 0x83):
        await h.run(Opcode.OFFLOAD, obj_type=obj_type, addr=blk)       # BAD_HANDLE
    for addr in (0, blk + 4, blk + 1):
        await h.run(Opcode.OFFLOAD, obj_type=int(TCP), handle=pa, addr=addr)   # BAD_ADDRESS
    await h.offload(NB, neighbor_fields(rng), parent=nb)               # PARENT: a neighbor has none
    for parent in (nb, t0, pa | (1 << 26), make_handle(PATH, 9, 0), make_handle(PATH, 3, 0),
                   pa + (1 << 16), 0):
        await h.offload(TCP, tcp_fields(rng), parent=parent)           # PARENT
    await h.offload(PATH, path_fields(rng), parent=make_handle(NB, 5, 0))
    for state in (11, 15):
        await h.offload(TCP, tcp_fields(rng, state=state), parent=pa)  # BAD_STATE
    # POST: handle, length, generation
    for handle in (pa, nb, t0 | (1 << 27), make_handle(TCP, 16, 0), make_handle(TCP, 9, 0), t0 + (1 << 16)):
        await h.post(handle, 1, 10)                                    # BAD_HANDLE / STALE_HANDLE
    for length in (0, 65536, 0xFFFFFFFF):
        await h.post(t0, 2, length)                                    # BAD_LENGTH
    await h.post(t0, 3, 65535, recv=True)
    # UPDATE: obj_type/handle, address, generation; TCP succeeds without reading
    await h.update(PATH, nb, path_fields(rng))                         # BAD_HANDLE (type mismatch)
    await h.run(Opcode.UPDATE, obj_type=0, handle=nb, addr=blk)
    await h.run(Opcode.UPDATE, obj_type=int(NB), handle=nb, addr=0)    # BAD_ADDRESS
    await h.run(Opcode.UPDATE, obj_type=int(PATH), handle=pa, addr=blk + 2)
    await h.update(PATH, pa + (1 << 16), path_fields(rng))            # STALE_HANDLE
    await h.update(TCP, t1, {}, addr=8)                                # TCP: no read, SUCCESS
    await h.update(PATH, pa, path_fields(rng))
    await h.update(NB, nb, neighbor_fields(rng))
    await h.checkpoint("refusals")
    es = [h.entry(x, p) for x, p in ((t0, index(pa)), (t1, index(pa)), (pa, index(nb)), (nb, 0))]
    await h.query(es)


async def table_full_and_pool_full(h):
    """Full tables and pool. Every connection goes on path row 5 (>= n_neighbor) and the
    path's count reaches 16 (wider than a neighbor's count field): both once hit an RTL
    field-width bug (`mfield`)."""
    rng = random.Random(2)
    nbs = [(await h.offload(NB, neighbor_fields(rng), cookie=i))["result"] for i in range(SMALL.n_neighbor + 1)]
    pas = [(await h.offload(PATH, path_fields(rng), parent=nbs[0]))["result"] for _ in range(SMALL.n_path + 1)]
    tcps = [(await h.offload(TCP, tcp_fields(rng), parent=pas[5]))["result"] for _ in range(SMALL.n_tcp + 1)]
    t = tcps[1]
    cmds = [dict(opcode=Opcode.POST_SEND if i % 3 else Opcode.POST_RECV, handle=t, cookie=0x500 + i,
                 count=1 + i) for i in range(SMALL.n_req + 2)]
    for i in range(0, len(cmds), 4):
        await h.batch(cmds[i:i + 4])                                   # the last ones: TABLE_FULL
    # the path before its connections (ORDER: 16 connections), a connection whose
    # requests do not fit (CAPACITY), then properly
    await h.terminate([h.entry(pas[5], index(nbs[0])), h.entry(t, index(pas[5]), SMALL.n_req - 1)])
    await h.terminate([h.entry(t, index(pas[5]), SMALL.n_req)])
    await h.post(t, 9, 9)                                              # STALE_HANDLE now
    t2 = (await h.offload(TCP, tcp_fields(rng), parent=pas[6]))["result"]   # the freed row again
    for i in range(5):                                                 # freed entries, found by the scan
        await h.post(t2, 0x900 + i, 100 + i, recv=bool(i & 1))
    es = [h.entry(x, index(pas[5])) for x in tcps[:SMALL.n_tcp] if x != t]
    await h.terminate(es[:8])
    await h.terminate(es[8:] + [h.entry(t2, index(pas[6]), 5), h.entry(pas[5], index(nbs[0])),
                                h.entry(pas[6], index(nbs[0]))])


async def list_refusals(h):
    rng = random.Random(3)
    nb, pa, (t0, t1, t2) = await tree(h, rng, 3)
    await h.post(t0, 0x40, 40)
    await h.post(t0, 0x41, 41, recv=True)
    e = h.entry
    # whole-list refusals: count 0 / too many, list address 0 / misaligned
    await h.query([e(t0, index(pa))], count=0)
    await h.terminate([e(t0, index(pa))], count=MAX_LIST_ENTRIES + 1)
    await h.query([e(t0, index(pa))], addr=0)
    await h.terminate([e(t0, index(pa))], addr=0x2004)
    # entry refusals of every class, with the Status word written when it can be
    bad_handles = [0, make_handle(TCP, 16, 0), t0 | (1 << 26), make_handle(NB, 4, 0), make_handle(PATH, 8, 0)]
    es = [e(x, 0, obj_type=TCP) for x in bad_handles]                        # BAD_HANDLE
    es += [e(t1, index(pa), status_addr=es[0][1].status + 2),                 # BAD_ADDRESS
           e(t1, index(pa), state_addr=0), e(t1, index(pa), state_addr=es[0][1].state + 4),
           e(t1, index(pa), status_addr=0), e(nb, 0, state_addr=0),
           e(pa, index(nb), state_addr=0)]                                    # a path needs no state
    await h.query(es)
    es = [e(t1, index(pa), req_addr=0), e(t1, index(pa), req_addr=es[0][1].req + 4),
          e(t0 + (1 << 16), index(pa)), e(make_handle(TCP, 7, 0), index(pa)),  # STALE_HANDLE
          e(t0, index(pa) + 1), e(pa, index(nb) + 1),                          # PARENT
          e(pa, index(nb)), e(nb, 0),                                          # ORDER
          e(t0, index(pa), 1),                                                 # CAPACITY
          e(t1, index(pa)), e(t1, index(pa)),                                  # DUPLICATE
          e(t0, index(pa), 2)]
    await h.terminate(es)
    # a list DMA read error at entry 2, after a refused entry 0 (t1 is gone)
    es = [e(t1, index(pa)), e(t2, index(pa)), e(pa, index(nb)), e(nb, 0)]
    lst = h.alloc(32 * len(es), 8)
    h.mem.write(lst, b"".join(LIST_ENTRY.to_bytes(x) for x, _ in es))
    h.dma_error(lst + 2 * 32 + 8, lst + 2 * 32 + 16)
    await h.run(Opcode.TERMINATE, addr=lst, count=len(es))
    h.observe(Opcode.TERMINATE, es)
    h.clear_dma_errors()
    await h.checkpoint("after list dma error")
    await h.terminate(es[2:])


async def load_block_dma_errors(h):
    rng = random.Random(4)
    nb, pa, (t0,) = await tree(h, rng, 1)
    blk = h.load_block(TCP, tcp_fields(rng))
    h.dma_error(blk + 40, blk + 48)
    await h.offload(TCP, None, parent=pa, addr=blk)                    # DMA_READ
    blk2 = h.load_block(NB, neighbor_fields(rng))
    h.dma_error(blk2, blk2 + 8)
    await h.update(NB, nb, None, addr=blk2)                            # DMA_READ
    await h.update(TCP, t0, None, addr=blk2)                           # TCP: not read, SUCCESS
    h.clear_dma_errors()
    await h.update(NB, nb, None, addr=blk2)
    await h.query([h.entry(nb, 0)])


async def bad_input_corners(h):
    """The bad-input classes the scenarios above do not reach (docs/verification.md, *Bad
    input*): each refusal's code asserted here, and everything else (tables, host memory,
    registers) compared with the model."""
    rng = random.Random(5)
    e = h.entry
    nb, pa, (t0,) = await tree(h, rng, 1)
    await h.post(t0, 0x70, 70)
    # list counts that only a full 32-bit compare refuses
    for count in (1 << 16, (1 << 16) + 1, 0xFFFFFFFF):
        cpl = await h.query([e(t0, index(pa))], count=count)
        assert cpl["detail"] == ErrorCode.BAD_LENGTH, (count, cpl)
    # UPDATE: obj_type past the three types; a TCP UPDATE still checks its address
    for obj_type in (4, 0x83, 0xFF):
        cpl = await h.run(Opcode.UPDATE, obj_type=obj_type, handle=pa, addr=h.load_block(PATH, path_fields(rng)))
        assert cpl["detail"] == ErrorCode.BAD_HANDLE, (obj_type, cpl)
    for addr in (0, 8 + 4):
        cpl = await h.run(Opcode.UPDATE, obj_type=int(TCP), handle=t0, addr=addr)
        assert cpl["detail"] == ErrorCode.BAD_ADDRESS, (addr, cpl)
    # OFFLOAD under a failed parent (found by QUERY) and under a poisoned one: PARENT, and
    # the parents' counts are untouched (their TERMINATEs below are refused with ORDER
    # exactly as long as t0 / nothing is on them)
    pb = (await h.offload(PATH, path_fields(rng), parent=nb))["result"]
    pc = (await h.offload(PATH, path_fields(rng), parent=nb))["result"]
    h.flip("path_data", index(pb), 0b11 << 7)
    await h.query([e(pb, index(nb))])                                  # pb: failed
    h.flip("path_meta", index(pc), 0b11 << 3)
    await h.query([e(pc, index(nb))])                                  # pc: poisoned
    for parent in (pb, pc):
        cpl = await h.offload(TCP, tcp_fields(rng), parent=parent)
        assert cpl["detail"] == ErrorCode.PARENT, cpl
    # reserved descriptor bits are ignored: the same commands as with zeros
    cpl = await h.run(Opcode.NOP, rsvd=(1 << 64) - 1)
    assert cpl["status"] == NdisStatus.SUCCESS, cpl
    t1 = await h.offload(TCP, tcp_fields(rng), parent=pa, rsvd=0x8000_0000_0000_0001)
    assert t1["status"] == NdisStatus.SUCCESS, t1
    # an injection armed for a memory id that names no memory flips nothing and stays armed
    ue = await h.regs.read("ECC_UE_COUNT")
    await h.regs.write("ERRINJ_MASK_LO", 0b11)
    await h.regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=31)
    await h.post(t0, 0x71, 71)
    t2 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]
    await h.query([e(t0, index(pa)), e(t1["result"], index(pa)), e(t2, index(pa))])
    assert h.regs.decode("ERRINJ_CTRL", await h.regs.read("ERRINJ_CTRL")) == dict(ARM=1, MEM=31)
    assert await h.regs.read("ECC_UE_COUNT") == ue                    # nothing new
    await h.regs.write("ERRINJ_CTRL", 0)
    # engine-driven read-only registers ignore writes
    ro = ("STATUS", "CMDQ_CONS", "CPLQ_PROD", "EVTQ_PROD", "CMD_COUNT", "QUARANTINED", "ECC_UE_COUNT",
          "SCRUB_PASSES", "CAP_TCP")
    before = {r: await h.regs.read(r) for r in ro}
    for r in ro:
        await h.regs.write(r, 0x5A5A5A5A)
    assert {r: await h.regs.read(r) for r in ro} == before
    await h.checkpoint("bad input corners")
    cpl = await h.terminate([e(pa, index(nb))])
    assert cpl["detail"] == ErrorCode.ORDER, cpl                      # t0, t1, t2 are on it
    await h.terminate([e(t, index(pa), 2) for t in (t0, t1["result"], t2)]
                      + [e(pa, index(nb)), e(pb, index(nb)), e(pc, index(nb)), e(nb, 0)])


@pytest.mark.parametrize("scenarios", [(command_refusals, list_refusals, bad_input_corners),
                                       (table_full_and_pool_full, load_block_dma_errors)],
                         ids=lambda ss: "+".join(f.__name__ for f in ss))
def test_commands_and_refusals(scenarios):
    run(chain(*scenarios))


def list_dma_errors_then_healthy(seed, rounds=3):
    """Issue 11: a list read error at every entry position under back-pressure, each
    followed by a QUERY of healthy connections; the RTL must leave nothing behind."""
    async def scenario(h):
        rng = random.Random(seed)
        nb, pa, live = await tree(h, rng, 6)
        for i in range(4 * rounds):
            k, op = i % 4, (Opcode.QUERY, Opcode.TERMINATE)[i // 4 % 2]
            es = [h.entry(x, index(pa)) for x in live[:4]]
            lst = h.alloc(32 * len(es), 8)
            h.mem.write(lst, b"".join(LIST_ENTRY.to_bytes(x) for x, _ in es))
            lo = lst + 32 * k + 8 * rng.randrange(4)
            h.dma_error(lo, lo + 8 if rng.random() < 0.5 else lst + 32 * len(es))
            await h.run(op, addr=lst, count=len(es))
            h.observe(op, es)
            h.clear_dma_errors()
            if op == Opcode.TERMINATE:
                del live[:k]
            while len(live) < 6:
                live.append((await h.offload(TCP, tcp_fields(rng), parent=pa))["result"])
            await h.query([h.entry(x, index(pa)) for x in live[-2:]])
    scenario.__name__ = f"list dma errors seed {seed}"
    return scenario


def test_list_dma_errors_under_back_pressure():
    seed = seed_from_env(1101)
    print(f"list dma errors under back-pressure: CHIMNEY_SEED={seed}")
    run(list_dma_errors_then_healthy(seed), until_s=20e-3,
        axi_kw=dict(seed=seed, pause={"aw": 0.2, "w": 0.2, "b": 0.2, "ar": 0.2, "r": 0.6}, read_latency=3))


# ======================================================================================
# back-door faults in every memory: single, double, triple flips, whole-word corruption
# ======================================================================================
FAULT_KINDS = ("single", "double", "triple", "word", "codeword")
DETECTORS = ("query", "terminate", "post", "update", "scrub")


async def fault_case(h, rng, name, kind, detector):
    """A tree with posted requests; one fault in `name`; found first by `detector`; then
    whole-tree terminates until nothing is left (the failure sequence where it applies)."""
    nb, pa, (victim,) = await tree(h, rng, 1, cookie=rng.getrandbits(16) << 8)
    for i in range(3):                             # pool entries 0-2 after a reset
        await h.post(victim, rng.getrandbits(32), rng.randrange(1, 65536), recv=bool(i & 1))
    table = name.split("_")[0]
    row = {"tcp": index(victim), "path": index(pa), "neighbor": index(nb)}.get(table)
    if name == "req_pool":
        addr = rng.choice([0, 1, 2, 2, 9])
    elif name.endswith("_data"):
        t = {"tcp": TCP, "path": PATH, "neighbor": NB}[table]
        addr = row * data_words(t) + rng.randrange(data_words(t))
    else:
        addr = row
    await apply_fault(h, rng, kind, name, addr)

    def everything(cap=4):
        return [h.entry(victim, index(pa), cap), h.entry(pa, index(nb)), h.entry(nb)]
    if detector == "query":
        await h.query(everything())
    elif detector == "post":
        await h.post(victim, 0x77, 7, recv=True)
    elif detector == "update":
        await h.update(PATH, pa, path_fields(rng))
        await h.update(NB, nb, neighbor_fields(rng))
    elif detector == "scrub":
        await h.scrub_pass()
    await h.terminate(everything())
    await h.terminate(everything())
    if h.last_events:                               # the final terminate found the meta lost
        await h.terminate(everything()[:1])


def fault_test(names, seed):
    async def scenario(h):
        rng = random.Random(seed)
        n = 0
        for name in names:
            for kind in FAULT_KINDS:
                await fault_case(h, rng, name, kind, DETECTORS[(n + seed) % len(DETECTORS)])
                await reset(h)
                n += 1
    return scenario


@pytest.mark.parametrize("names", [("tcp_data", "tcp_ident"), ("tcp_meta", "req_pool"),
                                   ("path_data", "path_ident", "path_meta"),
                                   ("neighbor_data", "neighbor_ident", "neighbor_meta")],
                         ids=lambda n: "+".join(n))
def test_backdoor_faults(names):
    run(fault_test(names, sum(map(ord, "".join(names)))), until_s=20e-3)


# ======================================================================================
# the failure sequence, detached rows, poisoned rows, paths and neighbors
# ======================================================================================
async def failure_sequences(h):
    rng = random.Random(6)
    e = h.entry
    nb = (await h.offload(NB, neighbor_fields(rng), cookie=0x10))["result"]
    pa = (await h.offload(PATH, path_fields(rng), parent=nb, cookie=0x20))["result"]
    pb = (await h.offload(PATH, path_fields(rng), parent=nb, cookie=0x21))["result"]
    t0, t1 = [(await h.offload(TCP, tcp_fields(rng), parent=pa, cookie=0x30 + i))["result"] for i in range(2)]
    t2, t3 = [(await h.offload(TCP, tcp_fields(rng), parent=pb, cookie=0x40 + i))["result"] for i in range(2)]
    for t, n in ((t1, 3), (t2, 2), (t3, 2)):
        for i in range(n):
            await h.post(t, 0x1000 * index(t) + i, 100 + i, recv=bool(i % 2))
    # 1. t1's data lost, found by a terminate of t0, t1 and their path: t1 FAILURE with
    #    events, detached: the path ends with SUCCESS in the same command
    h.flip("tcp_data", index(t1) * 10 + 4, 0b11 << 30)
    await h.terminate([e(t0, index(pa), 3), e(t1, index(pa), 3), e(pa, index(nb))])
    # 2. its meta word is lost before the host's next terminate: poisoned again, events again
    h.flip("tcp_meta", index(t1), 0b101)
    await h.terminate([e(t1, index(pa), 3)])
    # 3. the next one quarantines it (no second release of the path reference)
    await h.terminate([e(t1, index(pa), 3)])
    # 4. t2's tail request lost: a POST fails the connection (CONN_FAILED, events), QUERY
    #    FAILURE without events, then its terminate hands back what is left as ABORTED
    tail = 3 + 2 - 1                                          # pool entries: t1 0-2, t2 3-4, t3 5-6
    h.flip("req_pool", tail, (1 << 70) | (1 << 3))
    await h.post(t2, 0x99, 9)
    await h.post(t2, 0x9A, 9)
    await h.query([e(t2, index(pb))])
    await h.update(TCP, t2, {})
    await h.terminate([e(t2, index(pb), 1)])                  # CAPACITY: 2 requests tracked
    await h.terminate([e(t2, index(pb), 2)])
    # 5. t3's meta lost, found by a QUERY (poisoned, not detached); its terminate names an
    #    out-of-range parent: the path's count must not change
    h.flip("tcp_meta", index(t3), (1 << 9) | (1 << 40))
    await h.query([e(t3, index(pb)), e(pb, index(nb)), e(nb, 0)])
    await h.terminate([e(t3, SMALL.n_path + index(pb), 2)])
    await h.terminate([e(pb, index(nb)), e(nb, 0)])
    await h.checkpoint("tree 1")
    # 6. a path whose meta word is lost, a neighbor whose data is lost (found by QUERY):
    #    both end at the whole-tree terminate, the connection with SUCCESS
    nb2 = (await h.offload(NB, neighbor_fields(rng), cookie=0x50))["result"]
    pc = (await h.offload(PATH, path_fields(rng), parent=nb2, cookie=0x51))["result"]
    pd = (await h.offload(PATH, path_fields(rng), parent=nb2, cookie=0x52))["result"]
    t4 = (await h.offload(TCP, tcp_fields(rng), parent=pc, cookie=0x53))["result"]
    h.flip("path_meta", index(pc), 0b11 << 12)
    h.flip("neighbor_data", index(nb2) * 2 + 1, 0b11 << 50)
    h.flip("path_ident", index(pd), (1 << 64) | (1 << 65))
    await h.query([e(t4, index(pc)), e(pd, index(nb2)), e(nb2, 0)])
    await h.update(PATH, pd, path_fields(rng))
    await h.terminate([e(t4, index(pc)), e(pc, index(nb2)), e(pd, index(nb2)), e(nb2, 0)])
    # 7. the same generation numbers come back: freed rows are reused, stale handles refused
    nb3 = (await h.offload(NB, neighbor_fields(rng)))["result"]
    pe = (await h.offload(PATH, path_fields(rng), parent=nb3))["result"]
    await h.terminate([e(pa, index(nb)), e(pe, index(nb3)), e(nb3, 0), e(nb3, 0)])


async def detached_connection_keeps_its_row(h):
    """A failed, detached connection outlives its path; the path row is taken by a new
    path; the connection's final terminate must not touch the new path's count."""
    rng = random.Random(7)
    e = h.entry
    # the final terminate of a detached connection leaves its (still offloaded) path alone
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    h.flip("tcp_data", index(t1) * 10 + 7, 0b11 << 20)
    await h.terminate([e(t1, index(pa))])                    # detached: count 2 -> 1
    await h.terminate([e(t1, index(pa))])                    # final: count stays 1
    await h.terminate([e(pa, index(nb))])                    # ORDER: t0 is still on it
    await h.terminate([e(t0, index(pa)), e(pa, index(nb)), e(nb, 0)])
    # a detached connection outlives its path, whose row is taken again
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    await h.post(t1, 0x61, 61)
    h.flip("tcp_ident", index(t1), 0b11 << 33)
    await h.terminate([e(t0, index(pa)), e(t1, index(pa), 1), e(pa, index(nb)), e(nb, 0)])
    nb2, pa2, (t2,) = await tree(h, rng, 1, cookie=0x700)
    pa3 = (await h.offload(PATH, path_fields(rng), parent=nb2))["result"]
    await h.terminate([e(t1, index(pa), 1)])                 # final: no release (detached)
    await h.terminate([e(pa2, index(nb2)), e(t2, index(pa2)), e(pa2, index(nb2)), e(pa3, index(nb2)),
                       e(nb2, 0)])




async def lost_meta_after_detach(h):
    """notes-refmodel 19b: a detached connection whose meta word is lost before its final
    terminate must not give its path reference back a second time. The host says the
    connection was detached (LIST_ENTRY.detached), so the path stays referenced by t0 and
    its TERMINATE is refused with ORDER. A connection failed by QUERY (never detached)
    whose final terminate finds its meta word lost gives its reference back once."""
    rng = random.Random(8)
    e = h.entry
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    h.flip("tcp_data", index(t1) * 10, 0b11)
    await h.terminate([e(t1, index(pa))])                     # detached: path count 2 -> 1
    h.flip("tcp_meta", index(t1), 0b11 << 16)
    await h.terminate([e(t1, index(pa), detached=1)])         # poisoned: the count stays 1
    cpl = await h.terminate([e(pa, index(nb))])
    assert cpl["detail"] == ErrorCode.ORDER and cpl["err_index"] == 0, cpl   # t0 is still on it
    await h.terminate([e(t1, index(pa), detached=1)])         # t1 ends (quarantined)
    await h.terminate([e(t0, index(pa)), e(pa, index(nb)), e(nb, 0)])
    # failed by QUERY (not detached), its meta word lost before the final terminate
    nb, pa, (t0, t1) = await tree(h, rng, 2, cookie=0x800)
    h.flip("tcp_data", index(t1) * 10 + 3, 0b11 << 8)
    await h.query([e(t1, index(pa))])
    h.flip("tcp_meta", index(t1), 0b11 << 16)
    await h.terminate([e(t1, index(pa))])                     # the one release: count 2 -> 1
    cpl = await h.terminate([e(pa, index(nb))])
    assert cpl["detail"] == ErrorCode.ORDER, cpl              # t0 is still on it
    await h.terminate([e(t0, index(pa)), e(pa, index(nb))])
    # t1's row stays poisoned and detached; its next terminate releases nothing
    await h.terminate([e(t1, index(pa), detached=1), e(nb, 0)])
    assert (await h.query([e(t0, index(pa))]))["detail"] == ErrorCode.STALE_HANDLE


def test_failure_sequences():
    run(chain(failure_sequences, detached_connection_keeps_its_row, lost_meta_after_detach))


# ======================================================================================
# patrol scrubber pass, error injection
# ======================================================================================
async def scrubber_findings(h):
    rng = random.Random(9)
    e = h.entry
    nb, pa, (t0, t1, t2, t3) = await tree(h, rng, 4)
    nb2 = (await h.offload(NB, neighbor_fields(rng), cookie=0x77))["result"]
    for t in (t0, t1, t2):
        for i in range(2):
            await h.post(t, 0x100 * index(t) + i, 10 + i, recv=bool(i))
    h.flip("tcp_data", index(t0) * 10 + 9, 1 << 13)               # corrected, written back
    h.flip("tcp_data", index(t1) * 10 + 2, 0b11 << 7)             # lost: failed, events
    h.flip("tcp_meta", index(t2), (1 << 3) | (1 << 66))           # lost meta: poisoned, events (gen 0)
    h.flip("tcp_ident", index(t3), 0b111 << 20)                   # triple flip in the ident word
    h.flip("tcp_meta", 9, 0b11)                                   # a free row's meta: poisoned
    h.flip("path_ident", index(pa), 1 << 71)                      # corrected check bit
    h.flip("neighbor_data", index(nb2) * 2, 0b11 << 60)           # lost: failed, no events
    h.flip("req_pool", 3, 0b11 << 40)                             # t1's second request: quarantined
    h.flip("req_pool", 20, 0b1001)                                # a free entry: quarantined
    h.corrupt("neighbor_meta", 3, ecc_encode(rng.getrandbits(64)))  # whole word, valid code
    await h.scrub_pass()
    await h.checkpoint("first pass")
    await h.scrub_pass()                                          # nothing new
    h.flip("path_data", index(pa), 1 << 5)
    await h.scrub_pass()
    await h.terminate([e(t, index(pa), 2) for t in (t0, t1, t2, t3)] + [e(pa, index(nb)), e(nb, 0), e(nb2, 0)])
    await h.terminate([e(t, index(pa), 2) for t in (t1, t2, t3)] + [e(pa, index(nb)), e(nb, 0)])
    await h.post(make_handle(TCP, 9, 0), 1, 1)
    await h.terminate([e(make_handle(TCP, 9, 0), 5)])             # the poisoned free row
    await h.scrub_pass()


async def error_injection(h):
    rng = random.Random(10)
    e = h.entry

    async def arm(mem, lo=0, hi=0, ecc=0):
        await h.regs.write("ERRINJ_MASK_LO", lo)
        await h.regs.write("ERRINJ_MASK_HI", hi)
        await h.regs.write("ERRINJ_MASK_ECC", ecc)
        await h.regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID[mem])
    nb, pa, (t0,) = await tree(h, rng, 1)
    # the next client write of each memory gets the mask
    await arm("tcp_data", lo=0b11 << 4)
    t1 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]          # data word 0: lost
    await arm("tcp_ident", hi=1 << 9)
    t2 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]          # ident: corrected
    await arm("tcp_meta", ecc=0b11)
    t3 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]          # meta: lost
    await arm("path_meta", lo=1 << 1)
    t4 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]          # the parent's count: CE
    await arm("req_pool", lo=0b11 << 20)
    await h.post(t0, 0xAA, 10)                                                 # lost entry
    await h.post(t0, 0xAB, 11)                                                 # (its tail is lost)
    await arm("neighbor_data", hi=0b11 << 1)
    await h.update(NB, nb, neighbor_fields(rng))                               # lost after UPDATE
    # a corrected read's write-back is the memory's own: it does not take an armed injection
    h.flip("path_data", index(pa), 1 << 3)
    await arm("path_data", lo=0b101)
    await h.query([e(pa, index(nb))])                                         # CE, write-back clean
    await h.checkpoint("armed across a write-back")
    pb = (await h.offload(PATH, path_fields(rng), parent=nb))["result"]       # this write is injected
    # check bits only
    await arm("tcp_data", ecc=1 << 6)
    t5 = (await h.offload(TCP, tcp_fields(rng), parent=pa))["result"]
    await h.query([e(t, index(pa)) for t in (t0, t1, t2, t3, t4, t5)] + [e(pa, index(nb)), e(pb, index(nb)),
                                                                        e(nb, 0)])
    # a scrubber-caused engine write takes the injection: the failed mark of a lost row
    h.flip("tcp_data", index(t5) * 10 + 1, 0b11)
    await arm("tcp_meta", lo=0b11 << 40)
    await h.scrub_pass()
    await h.checkpoint("after scrub")
    es = [e(t, index(pa), 2) for t in (t0, t1, t2, t3, t4, t5)] + [e(pa, index(nb)), e(pb, index(nb)), e(nb, 0)]
    await h.terminate(es)
    await h.terminate(es)


def test_scrubber_and_injection():
    run(chain(scrubber_findings, error_injection))


async def scrub_skips_freed_rows(h):
    """Issue 11 defect 3: a scrub pass reads the ident and data words only of rows that
    are offloaded and not failed, so lost words in freed (or never used) rows are not
    reported. A stale-handle TERMINATE of such a row does read it (the engine's
    speculative row read, documented): STALE_HANDLE, one uncorrectable error, no event."""
    rng = random.Random(12)
    e = h.entry
    nb, pa, (t0, t1, t2) = await tree(h, rng, 3)
    h.flip("tcp_ident", index(t1), 0b11 << 33)                    # lost ident: FAILURE, then freed
    h.flip("tcp_data", index(t2) * 10 + 3, 0b11 << 12)            # lost data: the same
    for t in (t1, t2):
        for _ in range(2):
            assert (await h.terminate([e(t, index(pa))]))["result"] == 1
    h.flip("tcp_ident", 12, 0b11 << 50)                           # a row never offloaded
    assert (await h.query([e(t1, index(pa))]))["detail"] == ErrorCode.STALE_HANDLE
    await h.regs.write("ERR_STATUS", 1 << ErrorCode.ECC_UNCORRECTABLE)
    before = await h.checkpoint("before pass")
    await h.scrub_pass()
    after = await h.checkpoint("after pass")
    for reg in ("ECC_UE_COUNT", "ECC_LAST_UE", "ECC_LAST_UE_SYN", "ECC_CE_COUNT", "ERR_STATUS"):
        assert after[reg] == before[reg], (h.side.name, reg, before[reg], after[reg])
    assert not after["ERR_STATUS"] >> ErrorCode.ECC_UNCORRECTABLE & 1
    # the stale-handle terminate of the freed row with the lost ident word
    cpl = await h.terminate([e(t1, index(pa))])
    assert (cpl["detail"], cpl["err_index"]) == (ErrorCode.STALE_HANDLE, 0), cpl
    assert h.last_events == []
    stale = await h.checkpoint("stale terminate")
    assert stale["ECC_UE_COUNT"] == after["ECC_UE_COUNT"] + 1
    loc = h.regs.decode("ECC_LAST_UE", stale["ECC_LAST_UE"])
    assert (loc["MEM"], loc["ADDR"]) == (MEMORY_ID["tcp_ident"], index(t1)), loc
    assert stale["ERR_STATUS"] >> ErrorCode.ECC_UNCORRECTABLE & 1
    # the rest of the tree is untouched (the tables are compared word for word at the end)
    assert (await h.terminate([e(t0, index(pa)), e(pa, index(nb)), e(nb, 0)]))["result"] == 0


async def reclaim_cut_off_entries(h):
    """SCRUB_CTRL.RECLAIM frees the pool entries a lost word cut off from every list, and
    nothing a list still reaches: a poisoned connection's whole list; the entries after
    a lost entry once their connection has ended (its tail stays owned until then); a
    healthy connection's requests and a failed connection's walkable ones survive."""
    rng = random.Random(14)
    e = h.entry
    nb, pa, (t0, t1, t2) = await tree(h, rng, 3)
    for t, n, base in ((t0, 2, 0x100), (t1, 3, 0x200), (t2, 4, 0x300)):
        for i in range(n):
            await h.post(t, base + i, 10 + i, recv=bool(i & 1))    # pool entries 0-1, 2-4, 5-8
    assert await h.reclaim() == 0                                  # nothing is cut off
    h.flip("tcp_meta", index(t1), 0b11 << 20)
    await h.query([e(t1, index(pa))])                              # t1 poisoned: its list is lost
    h.flip("req_pool", 7, 0b11 << 9)                               # t2's third request
    await h.terminate([e(t2, index(pa), 4)])                       # t2 fails (detached)
    assert await h.reclaim() == 3                                  # t1's three; t2's tail is owned
    await h.terminate([e(t1, index(pa), 3)])                       # quarantined
    await h.terminate([e(t2, index(pa), 4, detached=1)])           # two ABORTED records, list_lost
    assert await h.reclaim() == 4                                  # t2's fourth, after the lost one
    assert await h.reclaim() == 4
    for i in range(5):                                             # the freed entries are allocated again
        await h.post(t0, 0x400 + i, 40 + i)
    await h.checkpoint("after reclaim")
    await h.terminate([e(t0, index(pa), 7), e(pa, index(nb)), e(nb, 0)])   # all seven come back


def test_reclaim_cut_off_entries():
    run(reclaim_cut_off_entries)


def test_scrub_skips_freed_rows():
    run(scrub_skips_freed_rows)


# ======================================================================================
# DMA address windows (issue 17 item 5)
# ======================================================================================
async def dma_windows(h):
    """Two windows with a hole between them: every address the engine is given is
    checked, first byte and last, against them and refused with BAD_ADDRESS before a
    beat is issued (the AXI monitor checks every AR and AW against the latched windows);
    rings outside are refused at CTRL.ENABLE; the window registers are locked while
    enabled. At the end the reset windows (all of memory) are programmed again."""
    rng = random.Random(17)
    nb, pa, (t0, t1) = await tree(h, rng, 2)                         # all below R: window 0
    await h.post(t0, 0x170, 17)
    await h.post(t0, 0x171, 18, recv=True)
    R = h.alloc(0x3000, 0x1000)
    W0, W1 = (0, R - 1), (R + 0x1000, R + 0x1FF7)                     # [R, R+0xFFF]: the hole
    await h.regs.write_fields("CTRL", ENABLE=0)
    await h.quiesce()
    await h.regs.write_windows((W0, W1))
    # a ring outside (in the hole) or running past window 0's end: refused at enable
    for reg, value in (("EVTQ_BASE_LO", R + 0x40), ("CMDQ_BASE_LO", R - 0x40)):
        old = await h.regs.read(reg)
        await h.regs.write(reg, value)
        await h.regs.write("ERR_STATUS", 0xFFFFFFFF)
        await h.regs.write_fields("CTRL", ENABLE=1)
        await h.side.tick(8)
        err = h.regs.decode("ERR_STATUS", await h.regs.read("ERR_STATUS"))
        assert err["RING_CONFIG"] and err["BAD_ADDRESS"] and not await h.regs.read_field("STATUS.ENABLED"), reg
        await h.checkpoint(f"ring outside the windows: {reg}")
        await h.regs.write(reg, old)
    await h.regs.write_fields("CTRL", ENABLE=1)
    await h.side.tick(8)
    assert await h.regs.read_field("STATUS.ENABLED")
    # locked while enabled: a write is answered and ignored
    await h.regs.write("WIN1_BASE_LO", 0)
    assert await h.regs.read("WIN1_BASE_LO") == W1[0] & 0xFFFFFFFF

    nxt = [W1[0]]

    def w1(size):
        """`size` bytes inside window 1, far from its end."""
        addr = nxt[0]
        nxt[0] += (size + 7) & ~7
        assert nxt[0] < W1[0] + 0xE00
        return addr

    def ent(handle, parent, req_cap=0, t=TCP, **at):
        addrs = dict(status_addr=w1(8), state_addr=w1(DELEGATED[t].size), req_addr=w1(8 + 8 * max(req_cap, 1)))
        addrs.update(at)
        return h.entry(handle, parent, req_cap, obj_type=t, **addrs)

    async def listed(opcode, entries, at=None):
        at = w1(32 * len(entries)) if at is None else at
        h.mem.write(at, b"".join(LIST_ENTRY.to_bytes(e) for e, _ in entries))
        cpl = await h.run(opcode, addr=at, count=len(entries))
        h.observe(opcode, entries)
        return cpl

    # entries: the last byte decides (status 4 bytes, TCP state 124, req 8 + 8*req_cap);
    # window 1 ends at R+0x1FF7 (windows are whole 8-byte beats)
    es = [ent(t0, index(pa), status_addr=R + 0x1FF8),                 # the beat past the limit
          ent(t0, index(pa), status_addr=R + 0xFFC),                  # in the hole
          ent(t0, index(pa), state_addr=R + 0x1F80),                  # 124 bytes: ends at +0x1FFB
          ent(t1, index(pa), state_addr=R + 0x1F78),                  # ends at +0x1FF3: inside
          ent(pa, index(nb), t=PATH, state_addr=R + 0x10),            # a path writes no state
          ent(nb, 0, t=NB, state_addr=R + 0x1FF0)]                    # 12 bytes: ends at +0x1FFB
    cpl = await listed(Opcode.QUERY, es)
    assert (cpl["status"], cpl["detail"], cpl["err_index"]) == (NdisStatus.INVALID_ADDRESS, ErrorCode.BAD_ADDRESS, 0)
    assert cpl["result"] == 4, cpl                                    # entries 0, 1, 2, 5
    for i in (0, 1):                                                  # no Status written outside
        assert int.from_bytes(h.mem.read(es[i][1].status, 4), "little") == 0, i
    cpl = await listed(Opcode.TERMINATE, [ent(t0, index(pa), 2, req_addr=R + 0x1FE8)])   # 24 bytes: a beat past
    assert cpl["detail"] == ErrorCode.BAD_ADDRESS, cpl
    # a list whose last entry runs past window 1, one in the hole: the command is refused
    for at in (R + 0x1FE0, R + 0x800):
        cpl = await listed(Opcode.QUERY, [ent(t0, index(pa))], at=at)
        assert cpl["detail"] == ErrorCode.BAD_ADDRESS, (hex(at), cpl)
    # load blocks: OFFLOAD past window 0's end, UPDATE in the hole; inside, both work
    blk = DATA[TCP].to_bytes(tcp_fields(rng))
    cpl = await h.offload(TCP, None, parent=pa, addr=R - 72)          # 80 bytes: ends at R+7
    assert cpl["detail"] == ErrorCode.BAD_ADDRESS, cpl
    at = w1(len(blk))
    h.mem.write(at, blk)
    t2 = await h.offload(TCP, None, parent=pa, addr=at)
    assert t2["status"] == NdisStatus.SUCCESS, t2
    t2 = t2["result"]
    nbytes = DATA[NB].to_bytes(neighbor_fields(rng))
    h.mem.write(R + 0x100, nbytes)
    cpl = await h.update(NB, nb, None, addr=R + 0x100)
    assert cpl["detail"] == ErrorCode.BAD_ADDRESS, cpl
    at = w1(len(nbytes))
    h.mem.write(at, nbytes)
    assert (await h.update(NB, nb, None, addr=at))["status"] == NdisStatus.SUCCESS
    await h.checkpoint("dma windows")
    # everything inside the windows: a Status word ending exactly at window 0's limit, a
    # request array at window 1's
    cpl = await listed(Opcode.TERMINATE, [ent(t0, index(pa), 2, status_addr=R + 0x1FD8, req_addr=R + 0x1FE0),
                                          ent(t1, index(pa), status_addr=R - 4), ent(t2, index(pa)),
                                          ent(pa, index(nb), t=PATH),
                                          ent(nb, 0, t=NB)])
    assert cpl["status"] == NdisStatus.SUCCESS, cpl
    # the reset windows again (the next scenario allocates past R)
    await h.regs.write_fields("CTRL", ENABLE=0)
    await h.quiesce()
    await h.regs.write_windows(reset_windows(h.params))
    await h.regs.write_fields("CTRL", ENABLE=1)
    await h.side.tick(8)
    nb, pa, (t0,) = await tree(h, rng, 1)
    await h.terminate([h.entry(t0, index(pa)), h.entry(pa, index(nb)), h.entry(nb, 0)])


def test_dma_windows():
    run(dma_windows)


# ======================================================================================
# rings, reset, halts
# ======================================================================================
async def small_rings(h):
    """2-entry rings: wrap (phase) many times, a full command ring, events through a
    2-entry event ring, a full completion ring, a CMDQ_PROD doorbell too far ahead."""
    rng = random.Random(11)
    e = h.entry
    for _ in range(5):
        await h.run(Opcode.NOP)
    nb, pa, tcps = await tree(h, rng, 3)
    await h.batch([dict(opcode=Opcode.POST_SEND, handle=tcps[0], cookie=1, count=1),
                   dict(opcode=Opcode.POST_RECV, handle=tcps[0], cookie=2, count=2)])
    for t in tcps:
        h.flip("tcp_data", index(t) * 10 + 5, 0b11 << 50)
    await h.terminate([e(t, index(pa), 2) for t in tcps] + [e(pa, index(nb)), e(nb, 0)])   # 6 events
    await h.regs.write_fields("CMDQ_PROD", INDEX=(h.cmd_prod + 3) & 0xFFFF)                 # CMDQ_OVERFLOW
    await h.checkpoint("overflow")
    # consumer doorbells past the producer or behind the consumer: ignored (CONS_OVERRUN);
    # the rings go on as before (the completions below are still found)
    await h.regs.write("ERR_STATUS", 0xFFFFFFFF)
    for ring in ("CPLQ", "EVTQ"):
        prod = await h.regs.read(f"{ring}_PROD")
        for bad in (prod + 1, prod - 3):
            await h.regs.write_fields(f"{ring}_CONS", INDEX=bad & 0xFFFF)
            assert await h.regs.read("ERR_STATUS") == 1 << ErrorCode.CONS_OVERRUN
            await h.regs.write("ERR_STATUS", 0xFFFFFFFF)
        await h.regs.write_fields(f"{ring}_CONS", INDEX=h.cons[ring])                      # in range
        assert await h.regs.read("ERR_STATUS") == 0
    await h.checkpoint("consumer doorbells")
    await h.batch([dict(opcode=Opcode.NOP), dict(opcode=9)])
    await h.terminate([e(t, index(pa), 2) for t in tcps])
    for _ in range(3):
        await h.batch([dict(opcode=Opcode.NOP), dict(opcode=Opcode.NOP)])


async def reset_enable_and_halts(h):
    rng = random.Random(12)
    e = h.entry
    nb, pa, (t0,) = await tree(h, rng, 1)
    await h.run(9)                                                     # an ERR_STATUS bit
    h.flip("tcp_data", index(t0) * 10, 1)                              # a corrected error
    await h.query([e(t0, index(pa))])
    # ENABLE=1 while enabled is ignored, even with a bad base in the registers
    await h.regs.write("CPLQ_BASE_LO", h.ring["CPLQ"] + 32)
    await h.regs.write_fields("CTRL", ENABLE=1)
    await h.run(Opcode.NOP)
    await h.regs.write("CPLQ_BASE_LO", h.ring["CPLQ"])
    # a command that cannot be fetched halts the engine; CMDQ_CONS stays
    slot = h.cmd_prod & ((1 << h.log2["CMDQ"]) - 1)
    h.dma_error(h.ring["CMDQ"] + 32 * slot + 16, h.ring["CMDQ"] + 32 * slot + 24)
    await h.batch([dict(opcode=Opcode.NOP)], expect=1, cycles=1500)
    await h.checkpoint("fetch error")
    await h.regs.write_fields("CTRL", ENABLE=0)
    await h.regs.write_fields("CTRL", ENABLE=1)                        # ignored while halted
    await h.checkpoint("halted, enable ignored")
    h.clear_dma_errors()
    # CTRL.RESET: everything but the register file restarts (ERR_STATUS, IRQ_STATUS kept)
    await reset(h)
    await h.checkpoint("after reset")
    await h.query([e(t0, index(pa))])                                  # the tables are empty
    # ring configuration refused: zero base, misaligned base, size 0
    await h.regs.write_fields("CTRL", ENABLE=0)
    for reg, value in (("CMDQ_BASE_LO", 0), ("EVTQ_BASE_LO", h.ring["EVTQ"] + 8), ("CPLQ_SIZE", 0)):
        old = await h.regs.read(reg)
        await h.regs.write(reg, value)
        await h.regs.write_fields("CTRL", ENABLE=1)
        await h.checkpoint(f"ring config {reg}")
        await h.regs.write(reg, old)
    await h.regs.write("ERR_STATUS", 0xFFFFFFFF)
    await h.regs.write_fields("CTRL", ENABLE=1)
    nb, pa, (t0,) = await tree(h, rng, 1)
    await h.run(Opcode.NOP)
    # a failed Status write halts the engine: no completion (host memory is undefined now)
    ent = e(t0, index(pa))
    h.dma_error(ent[1].status, ent[1].status + 4)
    h.undefined.append((ent[1].status, ent[1].status + 8))
    await h.batch([dict(opcode=Opcode.QUERY, addr=h.alloc(32, 8, 0), count=0)])          # BAD_LENGTH first
    lst = h.alloc(32, 8)
    h.mem.write(lst, LIST_ENTRY.to_bytes(ent[0]))
    await h.batch([dict(opcode=Opcode.QUERY, addr=lst, count=1)], cycles=1500)
    await h.checkpoint("write error")
    h.clear_dma_errors()
    await reset(h)
    nb, pa, (t0,) = await tree(h, rng, 1)
    await h.terminate([e(t0, index(pa)), e(pa, index(nb)), e(nb, 0)])


def test_rings_reset_halt():
    """2-entry rings throughout."""
    run(chain(small_rings, reset_enable_and_halts), cmd_log2=1, cpl_log2=1, evt_log2=1)


async def injection_armed_across_reset(h):
    """ERRINJ armed when CTRL.RESET is written: the reset pass rewrites every meta word
    and pool entry; lead decision d: only client writes take the injection."""
    rng = random.Random(13)
    await h.regs.write("ERRINJ_MASK_LO", 0b11 << 12)
    await h.regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID["tcp_meta"])
    await reset(h)
    await h.checkpoint("armed after reset")
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    await h.query([h.entry(t0, index(pa)), h.entry(t1, index(pa))])


def test_injection_armed_across_reset():
    run(injection_armed_across_reset)


# ======================================================================================
# seeded random sequences of valid and invalid commands, faults, scrubs, injections
# ======================================================================================
class RandomHost:
    """Chooses operations from its own view (handles returned so far, which of them the
    host has seen end, requests posted): identical on both sides while the two agree."""

    MEMS = ("neighbor_data", "neighbor_ident", "neighbor_meta", "path_data", "path_ident", "path_meta",
            "tcp_data", "tcp_ident", "tcp_meta", "req_pool")

    def __init__(self, h, seed):
        self.h = h
        self.rng = random.Random(seed)
        self.live = {NB: [], PATH: [], TCP: []}
        self.dead = {NB: [], PATH: [], TCP: []}
        self.parent = {}                       # handle -> parent index
        self.posted = {}                       # TCP handle -> successful posts (upper bound)

    def pick(self, t, fresh=0.9):
        r = self.rng
        x = r.random()
        if self.live[t] and x < fresh:
            return r.choice(self.live[t])
        if self.dead[t] and x < (1 + fresh) / 2:
            return r.choice(self.dead[t])
        return r.choice([0, make_handle(t, r.randrange(SMALL.depth(t)), r.randrange(3)),
                         make_handle(r.randrange(4), r.randrange(20), 0) | (r.random() < 0.3) << 27])

    def fields(self, t):
        r = self.rng
        if t == TCP:
            return tcp_fields(r, state=r.choice([r.randrange(11)] * 19 + [r.randrange(11, 16)]))
        return neighbor_fields(r) if t == NB else path_fields(r)

    async def offload(self, t, parent=None, bad=0.0):
        h, r = self.h, self.rng
        if parent is None:
            parent = 0 if t == NB and r.random() < 0.95 else self.pick(ObjType(max(t - 1, 1)))
        addr = h.load_block(t, self.fields(t))
        if r.random() < bad:
            addr = r.choice([0, addr + 4])
        obj_type = r.choice([0, 4, 7]) if r.random() < bad / 2 else int(t)
        cpl = await h.run(Opcode.OFFLOAD, obj_type=obj_type, handle=parent, addr=addr, cookie=r.getrandbits(32))
        if cpl["status"] == NdisStatus.SUCCESS:
            self.live[t].append(cpl["result"])
            self.parent[cpl["result"]] = parent & 0xFFFF
        return cpl

    async def bootstrap(self):
        nb = (await self.offload(NB, 0))["result"]
        for _ in range(2):
            pa = (await self.offload(PATH, nb))["result"]
            for _ in range(2):
                t = (await self.offload(TCP, pa))["result"]
                for i in range(self.rng.randrange(3)):
                    await self.h.post(t, self.rng.getrandbits(32), 1 + i, recv=bool(i & 1))
                    self.posted[t] = self.posted.get(t, 0) + 1

    def ended(self, es, statuses):
        """What the host learns from a terminate's Status words."""
        for (e, b), st in zip(es, statuses):
            x = e["handle"]
            t = b.obj_type
            if x in self.live[t] and (st == NdisStatus.SUCCESS or (st == NdisStatus.FAILURE and t != TCP)):
                self.live[t].remove(x)
                self.dead[t].append(x)

    async def op(self):
        h, r = self.h, self.rng
        kind = r.choices(["offload", "post", "query", "terminate", "update", "misc", "fault", "scrub",
                          "dma", "batch", "errinj", "reset"], [18, 16, 9, 18, 5, 3, 12, 3, 3, 5, 3, 1])[0]
        if kind == "offload":
            await self.offload(r.choice([NB, PATH, PATH, TCP, TCP, TCP]), bad=0.06)
        elif kind == "post":
            t = self.pick(TCP)
            length = r.choice([r.randrange(1, 65536)] * 18 + [0, 65536 + r.randrange(100)])
            cpl = await h.post(t, r.getrandbits(32), length, recv=r.random() < 0.4)
            if cpl["status"] == NdisStatus.SUCCESS:
                self.posted[t] = self.posted.get(t, 0) + 1
        elif kind in ("query", "terminate"):
            entries = []
            for _ in range(r.randrange(1, 6)):
                t = r.choice([TCP, TCP, TCP, PATH, NB])
                x = self.pick(t, 0.9)
                p = self.parent.get(x, 0) if r.random() < 0.93 else r.randrange(SMALL.n_path + 2)
                n = self.posted.get(x, 0)
                cap = r.choice([n, n, n, n + 2, max(n - 1, 0), 0])
                entries.append((x, p, cap, t))
            if r.random() < 0.8:
                entries.sort(key=lambda x: -x[3])              # dependents first, mostly
            es = [h.entry(x, p, cap, obj_type=t) for x, p, cap, t in entries]
            if kind == "query":
                await h.query(es)
            else:
                await h.terminate(es)
                self.ended(es, [int.from_bytes(h.mem.read(b.status, 4), "little") for _, b in es])
        elif kind == "update":
            t = r.choice([NB, PATH, TCP])
            await h.update(t, self.pick(t), self.fields(t))
        elif kind == "misc":
            await h.run(r.choice([Opcode.NOP, Opcode.NOP, 7, 0xF0, 9]))
        elif kind == "fault":
            fkind = r.choice(FAULT_KINDS + ("double", "single"))
            targets = [x for t in (NB, PATH, TCP) for x in self.live[t]]
            if targets and r.random() < 0.75:
                x = r.choice(targets)
                t = ObjType((x >> 24) & 3)
                part = r.choice(["data", "data", "ident", "meta", "pool"])
                table = {NB: "neighbor", PATH: "path", TCP: "tcp"}[t]
                if part == "pool":
                    name, addr = "req_pool", r.randrange(16)
                elif part == "data":
                    name, addr = f"{table}_data", index(x) * data_words(t) + r.randrange(data_words(t))
                else:
                    name, addr = f"{table}_{part}", index(x)
            else:
                name = r.choice(self.MEMS)
                addr = r.randrange(memory_depth(SMALL, name))
            await apply_fault(h, r, fkind, name, addr)
        elif kind == "scrub":
            await h.scrub_pass()
        elif kind == "dma":
            if r.random() < 0.5:
                t = r.choice([NB, PATH, TCP])
                blk = h.load_block(t, self.fields(t))
                h.dma_error(blk + 8 * r.randrange(data_words(t)), blk + 8 * data_words(t))
                await h.offload(t, None, parent=self.pick(ObjType(max(t - 1, 1))) if t != NB else 0, addr=blk)
            else:
                x = self.pick(TCP)
                es = [h.entry(x, self.parent.get(x, 0), self.posted.get(x, 0)) for _ in range(3)]
                lst = h.alloc(96, 8)
                h.mem.write(lst, b"".join(LIST_ENTRY.to_bytes(y) for y, _ in es))
                k = r.randrange(3)
                h.dma_error(lst + 32 * k + 8 * r.randrange(4), lst + 32 * k + 32)
                op = r.choice([Opcode.QUERY, Opcode.TERMINATE])
                await h.run(op, addr=lst, count=3)
                h.observe(op, es)
                if op == Opcode.TERMINATE:
                    self.ended(es, [int.from_bytes(h.mem.read(b.status, 4), "little") for _, b in es])
            h.clear_dma_errors()
        elif kind == "batch":
            cmds = []
            for _ in range(r.randrange(2, 4)):
                cmds.append(dict(opcode=r.choice([Opcode.POST_SEND, Opcode.POST_RECV]), handle=self.pick(TCP),
                                 cookie=r.getrandbits(32), count=r.randrange(1, 2000)))
            cpls = await h.batch(cmds)
            for c, cpl in zip(cmds, cpls):
                if cpl["status"] == NdisStatus.SUCCESS:
                    self.posted[c["handle"]] = self.posted.get(c["handle"], 0) + 1
        elif kind == "errinj":
            await h.regs.write("ERRINJ_MASK_LO", 1 << r.randrange(32) | (r.random() < 0.5) << r.randrange(32))
            await h.regs.write("ERRINJ_MASK_ECC", (r.random() < 0.2) << r.randrange(8))
            await h.regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID[r.choice(self.MEMS)])
        elif kind == "reset":
            await h.regs.write("ERRINJ_CTRL", 0)         # (see test_injection_armed_across_reset)
            await reset(h)
            for t in self.live:
                self.dead[t] += self.live[t]
                self.live[t] = []
            await self.bootstrap()


def random_scenario(seed, n_ops):
    async def scenario(h):
        rh = RandomHost(h, seed)
        await rh.bootstrap()
        for i in range(n_ops):
            await rh.op()
            if i % 25 == 24:
                await h.checkpoint(f"op {i}")
    scenario.__name__ = f"random seed {seed}"
    return scenario


RANDOM_RUNS = [(0, 3, 60), (1, 1, 50), (2, 2, 60)]          # (offset, ring log2, operations)


@pytest.mark.parametrize("offset,log2,n_ops", RANDOM_RUNS, ids=[f"run{o}" for o, _, _ in RANDOM_RUNS])
def test_random_sequences(offset, log2, n_ops):
    base = seed_from_env(20261125)
    seed = base + offset
    print(f"random differential run: CHIMNEY_SEED={base} (this run uses seed {seed})")
    run(random_scenario(seed, n_ops), cmd_log2=log2, cpl_log2=log2, evt_log2=log2, until_s=20e-3)
