"""Differential tests: the RTL (whole engine in Amaranth's simulator) against RefEngine.

Each test runs one scenario of raw ring operations on both, with the same host-memory
layout, and compares byte for byte every completion and event entry (seq and phase
included), every Status word, the delegated bytes, request headers and records up to
`count`, all host memory the scenario allocated (request bytes past `count` excepted:
the contract leaves them undefined), registers at checkpoints and at the end, and
every stored word of the ten ECC memories. See tests/scenarios/diff.py.

The random tests print their seed; CHIMNEY_SEED=<n> reruns one.
"""

import random

import pytest

from chimney.contract import (ObjType, Opcode, NdisStatus, ErrorCode, MEMORY_ID, MAX_LIST_ENTRIES, make_handle,
                              data_words, LIST_ENTRY)
from chimney.contract.ecc import ecc_encode, H_COLUMNS
from scenarios.diff import (SMALL, differential, tree, tcp_fields, path_fields, neighbor_fields, index,
                            seed_from_env)

TCP, PATH, NB = ObjType.TCP, ObjType.PATH, ObjType.NEIGHBOR
M72 = (1 << 72) - 1


def run(scenario, **kw):
    differential(scenario, **kw)


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
    rng = random.Random(2)
    nbs = [(await h.offload(NB, neighbor_fields(rng), cookie=i))["result"] for i in range(SMALL.n_neighbor + 1)]
    pas = [(await h.offload(PATH, path_fields(rng), parent=nbs[0]))["result"] for _ in range(SMALL.n_path + 1)]
    await h.offload(TCP, tcp_fields(rng), parent=pas[1])
    t = (await h.offload(TCP, tcp_fields(rng), parent=pas[1]))["result"]
    cmds = [dict(opcode=Opcode.POST_SEND if i % 3 else Opcode.POST_RECV, handle=t, cookie=0x500 + i,
                 count=1 + i) for i in range(SMALL.n_req + 2)]
    for i in range(0, len(cmds), 4):
        await h.batch(cmds[i:i + 4])                                   # the last ones: TABLE_FULL
    # terminate the path before its connections (ORDER), then a connection whose requests
    # do not fit (CAPACITY), then properly
    es = [h.entry(pas[1], index(nbs[0])), h.entry(t, index(pas[1]), SMALL.n_req - 1)]
    await h.terminate(es)
    es = [h.entry(t, index(pas[1]), SMALL.n_req)]
    await h.terminate(es)
    # freed entries are found again by the wrapping scan
    await h.post(t - (1 << 16) + (1 << 16), 9, 9)
    t2 = (await h.offload(TCP, tcp_fields(rng), parent=pas[1]))["result"]
    for i in range(5):
        await h.post(t2, 0x900 + i, 100 + i, recv=bool(i & 1))


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


@pytest.mark.parametrize("scenario", [command_refusals, table_full_and_pool_full, list_refusals,
                                      load_block_dma_errors], ids=lambda f: f.__name__)
def test_commands_and_refusals(scenario):
    run(scenario)


# ======================================================================================
# back-door faults in every memory: single, double, triple flips, whole-word corruption
# ======================================================================================
FAULT_KINDS = ("single", "double", "triple", "word", "codeword")
DETECTORS = ("query", "terminate", "post", "update", "scrub")


async def fault_case(h, rng, name, kind, detector):
    """A tree with posted requests; one fault in `name`; found first by `detector`; then
    whole-tree terminates until nothing is left (the failure sequence where it applies)."""
    from scenarios.diff import apply_fault
    nb, pa, tcps = await tree(h, rng, 2, cookie=rng.getrandbits(16) << 8)
    for t, n in zip(tcps, (1, 3)):                 # pool entries 0 and 1-3 after a reset
        for i in range(n):
            await h.post(t, rng.getrandbits(32), rng.randrange(1, 65536), recv=bool(i & 1))
    table = name.split("_")[0]
    row = {"tcp": index(tcps[1]), "path": index(pa), "neighbor": index(nb)}.get(table)
    if name == "req_pool":
        addr = rng.choice([1, 2, 3, 3, 9])
    elif name.endswith("_data"):
        t = {"tcp": TCP, "path": PATH, "neighbor": NB}[table]
        addr = row * data_words(t) + rng.randrange(data_words(t))
    else:
        addr = row
    await apply_fault(h, rng, kind, name, addr)

    def everything(cap=4):
        return [h.entry(t, index(pa), cap) for t in tcps] + [h.entry(pa, index(nb)), h.entry(nb)]
    if detector == "query":
        await h.query(everything())
    elif detector == "post":
        await h.post(tcps[1], 0x77, 7, recv=True)
    elif detector == "update":
        await h.update(PATH, pa, path_fields(rng))
        await h.update(NB, nb, neighbor_fields(rng))
    elif detector == "scrub":
        await h.scrub_pass()
    await h.terminate(everything())
    await h.terminate(everything())
    if h.last_events:                               # the final terminate found the meta lost
        await h.terminate(everything()[1:2])


def fault_test(names, seed):
    async def scenario(h):
        from scenarios.diff import reset
        rng = random.Random(seed)
        n = 0
        for name in names:
            for kind in FAULT_KINDS:
                await fault_case(h, rng, name, kind, DETECTORS[(n + seed) % len(DETECTORS)])
                await reset(h)
                n += 1
    return scenario


@pytest.mark.parametrize("names", [("tcp_data",), ("tcp_ident", "tcp_meta"), ("path_data", "path_ident", "path_meta"),
                                   ("neighbor_data", "neighbor_ident", "neighbor_meta"), ("req_pool",)],
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
    nb, pa, (t0, t1) = await tree(h, rng, 2)
    await h.post(t1, 0x61, 61)
    h.flip("tcp_ident", index(t1), 0b11 << 33)
    await h.terminate([e(t0, index(pa)), e(t1, index(pa), 1), e(pa, index(nb)), e(nb, 0)])
    nb2, pa2, (t2,) = await tree(h, rng, 1, cookie=0x700)
    pa3 = (await h.offload(PATH, path_fields(rng), parent=nb2))["result"]
    await h.terminate([e(t1, index(pa), 1)])                 # final: no release (detached)
    await h.terminate([e(pa2, index(nb2)), e(t2, index(pa2)), e(pa2, index(nb2)), e(pa3, index(nb2)),
                       e(nb2, 0)])


@pytest.mark.parametrize("scenario", [failure_sequences, detached_connection_keeps_its_row],
                         ids=lambda f: f.__name__)
def test_failure_sequences(scenario):
    run(scenario)
