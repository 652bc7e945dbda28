"""Whole-engine scenarios over raw rings; each runs on Amaranth-sim, on cocotb and on
the reference model (tests/test_engine_model.py).

`body(rings, regs, mem, params)`: rings is a started tests.scenarios.raw.RawRings
(`rings_for`: 16-entry rings unless the scenario is marked `@ring_log2(n)`).
Faults are injected through the engine's own ERRINJ registers, so the scenarios
need no simulator back door.
"""

import random

from chimney.contract import (ObjType, Opcode, NdisStatus, TCP_DATA, WRITE_BACK, ErrorCode, split_handle,
                              Disposition, TcpEventType, TcpUploadReason, ReqKind, NO_INDEX, MEMORY_ID)

from scenarios.raw import RawRings


def tcp_fields(rng):
    f = {name: rng.getrandbits(field.width) for name, _, field in TCP_DATA if not name.startswith("rsvd")}
    f["State"] = rng.randrange(11)
    return f


async def offload_tree(rings, rng, n_tcp=1):
    nb = await rings.offload(ObjType.NEIGHBOR, {"NicReachabilityDelta": rng.getrandbits(32), "VlanId": 5},
                             host_handle=0x100)
    assert nb["status"] == NdisStatus.SUCCESS, nb
    pa = await rings.offload(ObjType.PATH, {"PathMtu": 1500}, parent=nb["result"], host_handle=0x200)
    assert pa["status"] == NdisStatus.SUCCESS, pa
    tcps = []
    for i in range(n_tcp):
        fields = tcp_fields(rng)
        tc = await rings.offload(ObjType.TCP, fields, parent=pa["result"], host_handle=0x300 + i)
        assert tc["status"] == NdisStatus.SUCCESS, tc
        tcps.append((tc["result"], fields))
    return nb["result"], pa["result"], tcps


def idx(handle):
    return split_handle(handle)[1]


async def nop_and_unknown_opcode(rings, regs, mem, params):
    cpl = await rings.run(Opcode.NOP)
    assert (cpl["status"], cpl["seq"], cpl["err_index"]) == (NdisStatus.SUCCESS, 0, NO_INDEX)
    cpl = await rings.run(9)
    assert (cpl["status"], cpl["detail"], cpl["seq"]) == (NdisStatus.NOT_SUPPORTED, ErrorCode.BAD_OPCODE, 1)
    assert await regs.read("ERR_STATUS") == 1 << ErrorCode.BAD_OPCODE
    assert await regs.read("CMD_COUNT") == 2


async def offload_query_terminate(rings, regs, mem, params):
    rng = random.Random(7)
    nh, ph, [(th, fields)] = await offload_tree(rings, rng)
    assert split_handle(nh)[:3] == (ObjType.NEIGHBOR, 0, 0)
    lst, bufs = rings.list_for([(th, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    assert rings.read_status(bufs[0]) == NdisStatus.SUCCESS
    assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fields)
    lst, bufs = rings.list_for([(th, idx(ph), ObjType.TCP), (ph, idx(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=3)
    assert (cpl["status"], cpl["result"], cpl["err_index"]) == (NdisStatus.SUCCESS, 0, NO_INDEX), cpl
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.SUCCESS] * 3
    assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fields)
    hdr, _ = rings.read_requests(bufs[0])
    assert (hdr["count"], hdr["list_lost"]) == (0, 0)
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert (cpl["status"], cpl["detail"], cpl["err_index"]) == (NdisStatus.INVALID_PARAMETER, ErrorCode.STALE_HANDLE, 0)


async def requests_handed_back_in_order(rings, regs, mem, params):
    rng = random.Random(11)
    nh, ph, [(th, fields)] = await offload_tree(rings, rng)
    posted = []
    for i in range(5):
        kind = rng.choice([ReqKind.SEND, ReqKind.RECV])
        op = Opcode.POST_SEND if kind == ReqKind.SEND else Opcode.POST_RECV
        length = rng.randrange(1, 65536)
        cpl = await rings.run(op, handle=th, cookie=0xC000 + i, count=length)
        assert cpl["status"] == NdisStatus.SUCCESS, cpl
        posted.append((0xC000 + i, length, kind))
    lst, bufs = rings.list_for([(th, idx(ph), ObjType.TCP)], req_cap=len(posted))
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=1)
    assert cpl["status"] == NdisStatus.SUCCESS, cpl
    hdr, recs = rings.read_requests(bufs[0])
    assert (hdr["count"], hdr["list_lost"]) == (len(posted), 0)
    expect = [(c, l, int(k), int(Disposition.UPLOAD_IN_PROGRESS if k == ReqKind.RECV else Disposition.RETURNED))
              for c, l, k in posted]
    assert [(r["cookie"], r["length"], r["kind"], r["disposition"]) for r in recs] == expect
    assert rings.read_status(bufs[0]) == NdisStatus.SUCCESS


async def bad_inputs_refused(rings, regs, mem, params):
    rng = random.Random(3)
    nh, ph, [(th, fields)] = await offload_tree(rings, rng)
    # whole-command refusals
    cpl = await rings.run(Opcode.TERMINATE, addr=0x1001, count=1)
    assert (cpl["status"], cpl["detail"]) == (NdisStatus.INVALID_ADDRESS, ErrorCode.BAD_ADDRESS)
    cpl = await rings.run(Opcode.TERMINATE, addr=0x2000, count=0)
    assert (cpl["status"], cpl["detail"]) == (NdisStatus.INVALID_LENGTH, ErrorCode.BAD_LENGTH)
    cpl = await rings.run(Opcode.POST_SEND, handle=th, cookie=1, count=0)
    assert (cpl["status"], cpl["detail"]) == (NdisStatus.INVALID_LENGTH, ErrorCode.BAD_LENGTH)
    cpl = await rings.run(Opcode.POST_SEND, handle=ph, cookie=1, count=10)
    assert (cpl["status"], cpl["detail"]) == (NdisStatus.INVALID_PARAMETER, ErrorCode.BAD_HANDLE)
    # entry refusals: the path before its connection is out of order; the connection twice
    lst, bufs = rings.list_for([(ph, idx(nh), ObjType.PATH), (th, idx(ph), ObjType.TCP),
                                (th, idx(ph), ObjType.TCP), (th ^ (1 << 16), idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=4)
    assert (cpl["status"], cpl["detail"], cpl["err_index"], cpl["result"]) == \
        (NdisStatus.INVALID_PARAMETER, ErrorCode.ORDER, 0, 3), cpl
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.INVALID_PARAMETER, NdisStatus.SUCCESS,
                                                   NdisStatus.INVALID_PARAMETER, NdisStatus.INVALID_PARAMETER]
    err = regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))
    assert err["ORDER"] and err["DUPLICATE"] and err["STALE_HANDLE"] and err["BAD_ADDRESS"] and err["BAD_LENGTH"]
    # the refused path is intact and still terminates
    lst, bufs = rings.list_for([(ph, idx(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=2)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl


async def hardware_failure_sequence(rings, regs, mem, params):
    """A double-bit error injected into a connection's data row: the full failure sequence."""
    rng = random.Random(5)
    nh, ph, [(ta, fa)] = await offload_tree(rings, rng)
    # arm a double flip for the next write to tcp_data, then offload the victim
    await regs.write("ERRINJ_MASK_LO", 0b11 << 8)
    await regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID["tcp_data"])
    victim = await rings.offload(ObjType.TCP, tcp_fields(rng), parent=ph, host_handle=0x777)
    assert victim["status"] == NdisStatus.SUCCESS
    assert await regs.read_field("ERRINJ_CTRL.ARM") == 0
    tv = victim["result"]
    for i in range(2):
        cpl = await rings.run(Opcode.POST_SEND if i == 0 else Opcode.POST_RECV, handle=tv, cookie=0xA0 + i, count=100)
        assert cpl["status"] == NdisStatus.SUCCESS
    lst, bufs = rings.list_for([(ta, idx(ph), ObjType.TCP), (tv, idx(ph), ObjType.TCP),
                                (ph, idx(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)], req_cap=2)
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=4)
    # 1. the lost connection's Status is FAILURE, the rest of the tree ends normally
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 1), cpl
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.SUCCESS, NdisStatus.FAILURE,
                                                   NdisStatus.SUCCESS, NdisStatus.SUCCESS]
    assert rings.read_delegated(bufs[1]) == bytes(WRITE_BACK[ObjType.TCP].nbytes)   # nothing written
    assert rings.read_requests(bufs[1])[0]["count"] == 0
    # 2./3. Retrieve(HardwareFailure) then Abort, ordered after the completion
    evs = [e for e in rings.events if e["handle"] == tv]
    assert [(e["type"], e["info"]) for e in evs] == [(TcpEventType.RETRIEVE, TcpUploadReason.HARDWARE_FAILURE),
                                                     (TcpEventType.ABORT, 0)]
    assert cpl["seq"] < evs[0]["seq"] < evs[1]["seq"]
    assert evs[0]["host_handle"] == 0x777
    assert regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))["ECC_UNCORRECTABLE"] == 1
    assert await regs.read("ECC_UE_COUNT") >= 1
    # 4./5. the host terminates it again: every request aborted, then the completion
    lst, bufs = rings.list_for([(tv, idx(ph), ObjType.TCP)], req_cap=2)
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=1)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 1), cpl
    hdr, recs = rings.read_requests(bufs[0])
    assert (hdr["count"], hdr["list_lost"]) == (2, 0)
    assert [(r["cookie"], r["disposition"]) for r in recs] == [(0xA0, Disposition.ABORTED), (0xA1, Disposition.ABORTED)]
    assert rings.read_status(bufs[0]) == NdisStatus.FAILURE
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)           # the row is gone now
    assert cpl["detail"] == ErrorCode.STALE_HANDLE


async def corrected_error_is_transparent(rings, regs, mem, params):
    rng = random.Random(9)
    await regs.write("ERRINJ_MASK_HI", 1 << 7)
    await regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID["tcp_data"])
    nh, ph, [(th, fields)] = await offload_tree(rings, rng)
    lst, bufs = rings.list_for([(th, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0)
    assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fields)
    assert await regs.read("ECC_CE_COUNT") == 1
    loc = regs.decode("ECC_LAST_CE", await regs.read("ECC_LAST_CE"))
    assert (loc["MEM"], loc["VALID"]) == (MEMORY_ID["tcp_data"], 1)
    # scrubbed back: a second query sees no new correction
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert await regs.read("ECC_CE_COUNT") == 1


def ring_log2(log2):
    """A scenario that needs bigger rings than RawRings' default (a long batch)."""
    def mark(body):
        body.ring_log2 = log2
        return body
    return mark


def rings_for(body, regs, mem):
    """The RawRings a runner gives `body` (not started)."""
    return RawRings(regs, mem, log2=getattr(body, "ring_log2", 4))


async def terminate_one(rings, handle, parent_index, obj_type=ObjType.TCP, req_cap=0):
    lst, bufs = rings.list_for([(handle, parent_index, obj_type)], req_cap=req_cap)
    return await rings.run(Opcode.TERMINATE, addr=lst.addr, count=1), bufs


def assert_stale(rings, cpl, bufs):
    """A one-entry list refused because its handle is stale (detail 3, not 4)."""
    assert (cpl["status"], cpl["detail"], cpl["err_index"]) == \
        (NdisStatus.INVALID_PARAMETER, ErrorCode.STALE_HANDLE, 0), cpl
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.INVALID_PARAMETER]


@ring_log2(8)
async def stale_handle_not_duplicate_256_later(rings, regs, mem, params):
    """Issue 11 defect 2: a freed row keeps the whole CMD_COUNT of the command that freed
    it, so its handle presented 1, 256 or 257 commands later is STALE_HANDLE (an 8-bit tag
    made 256 look like DUPLICATE); the same handle twice in one list is still DUPLICATE."""
    rng = random.Random(13)
    nh, ph, [(th, _), (t2, _)] = await offload_tree(rings, rng, n_tcp=2)
    freed_at = await regs.read("CMD_COUNT")              # the terminate below is command `freed_at`
    cpl, _ = await terminate_one(rings, th, idx(ph))
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    cpl, bufs = await terminate_one(rings, th, idx(ph))                 # command freed_at + 1
    assert_stale(rings, cpl, bufs)
    # 254 NOPs and the stale terminate in one batch: it is command freed_at + 256
    assert await regs.read("CMD_COUNT") == freed_at + 2
    lst, bufs = rings.list_for([(th, idx(ph), ObjType.TCP)])
    cpls = await rings.batch([(Opcode.NOP, {})] * 254 + [(Opcode.TERMINATE, dict(addr=lst.addr, count=1))])
    assert all(c["status"] == NdisStatus.SUCCESS for c in cpls[:-1])
    assert await regs.read("CMD_COUNT") == freed_at + 257
    assert_stale(rings, cpls[-1], bufs)
    cpl, bufs = await terminate_one(rings, th, idx(ph))                 # command freed_at + 257
    assert_stale(rings, cpl, bufs)
    # a real duplicate, with CMD_COUNT past 255: the second entry is DUPLICATE
    lst, bufs = rings.list_for([(t2, idx(ph), ObjType.TCP), (t2, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=2)
    assert (cpl["status"], cpl["detail"], cpl["err_index"], cpl["result"]) == \
        (NdisStatus.INVALID_PARAMETER, ErrorCode.DUPLICATE, 1, 1), cpl
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.SUCCESS, NdisStatus.INVALID_PARAMETER]


async def lost_then_freed(rings, regs, ph, rng, mem_name, host_handle):
    """Offload a connection with a double flip in its first `mem_name` word (ERRINJ), then
    terminate it twice: FAILURE with Retrieve + Abort, then FAILURE again and the row is
    freed. Returns its (now stale) handle."""
    await regs.write("ERRINJ_MASK_LO", 0b11 << 8)
    await regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID[mem_name])
    cpl = await rings.offload(ObjType.TCP, tcp_fields(rng), parent=ph, host_handle=host_handle)
    assert cpl["status"] == NdisStatus.SUCCESS and await regs.read_field("ERRINJ_CTRL.ARM") == 0
    th = cpl["result"]
    for _ in range(2):
        cpl, bufs = await terminate_one(rings, th, idx(ph))
        assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 1), cpl
        assert [rings.read_status(b) for b in bufs] == [NdisStatus.FAILURE]
    assert [e["type"] for e in rings.events if e["handle"] == th] == [TcpEventType.RETRIEVE, TcpEventType.ABORT]
    lst, _ = rings.list_for([(th, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert cpl["detail"] == ErrorCode.STALE_HANDLE, cpl
    return th


async def ecc_view(regs):
    return {r: await regs.read(r) for r in ("ECC_UE_COUNT", "ECC_LAST_UE", "ECC_LAST_UE_SYN", "ECC_CE_COUNT")}


async def clear_ue_status(regs):
    await regs.write("ERR_STATUS", regs.encode("ERR_STATUS", ECC_UNCORRECTABLE=1))
    assert not regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))["ECC_UNCORRECTABLE"]


async def scrub_pass(regs, params):
    """SCRUB_CTRL.PASS, then wait until SCRUB_PASSES moves (at once on the model). A pass
    is one step per row and pool entry; a CSR read takes about as long as a step."""
    before = await regs.read("SCRUB_PASSES")
    await regs.write_fields("SCRUB_CTRL", PASS=1)
    for _ in range(4 * (params.n_neighbor + params.n_path + params.n_tcp + params.n_req) + 1000):
        if await regs.read("SCRUB_PASSES") != before:
            return
    raise AssertionError("scrub pass did not finish")


async def scrub_skips_freed_rows(rings, regs, mem, params):
    """Issue 11 defect 3: a scrub pass reads ident and data words only for rows that are
    offloaded and not failed, so a freed row whose ident (or data) word was lost is not
    reported again. A stale-handle TERMINATE of that row still reads it (the engine's
    speculative row read): STALE_HANDLE and one more uncorrectable error, nothing else."""
    rng = random.Random(17)
    nh, ph, [(ta, fa)] = await offload_tree(rings, rng)
    tv = await lost_then_freed(rings, regs, ph, rng, "tcp_ident", 0x778)
    await lost_then_freed(rings, regs, ph, rng, "tcp_data", 0x779)     # last UE: the data row
    await clear_ue_status(regs)
    before, n_events = await ecc_view(regs), len(rings.events)
    await scrub_pass(regs, params)
    after = await ecc_view(regs)
    assert after == before, f"the scrub pass reported freed rows: {before} -> {after}"
    assert not regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))["ECC_UNCORRECTABLE"]
    # the documented exception: a stale handle makes the engine read the freed row
    cpl, bufs = await terminate_one(rings, tv, idx(ph))
    assert_stale(rings, cpl, bufs)
    after = await ecc_view(regs)
    assert after["ECC_UE_COUNT"] == before["ECC_UE_COUNT"] + 1, (before, after)
    loc = regs.decode("ECC_LAST_UE", after["ECC_LAST_UE"])
    assert (loc["MEM"], loc["ADDR"], loc["VALID"]) == (MEMORY_ID["tcp_ident"], idx(tv), 1)
    assert regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))["ECC_UNCORRECTABLE"]
    rings.poll_events()
    assert len(rings.events) == n_events                              # nothing failed, no event
    # no other row touched: the healthy connection still reads back, the path still ends
    lst, bufs = rings.list_for([(ta, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fa)
    lst, bufs = rings.list_for([(ta, idx(ph), ObjType.TCP), (ph, idx(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=3)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl


async def reclaim(regs, params):
    """SCRUB_CTRL.RECLAIM, then wait until it reads 0 (at once on the model); RECLAIMED."""
    await regs.write_fields("SCRUB_CTRL", RECLAIM=1)
    for _ in range(4 * (params.n_tcp + 2 * params.n_req) + 1000):
        if not await regs.read_field("SCRUB_CTRL.RECLAIM"):
            return await regs.read("RECLAIMED")
    raise AssertionError("reclaim did not finish")


async def reclaim_frees_a_lost_list(rings, regs, mem, params):
    """Issue 17: a connection whose meta word is lost (ERRINJ on the meta update of its
    fourth POST) has lost its list; SCRUB_CTRL.RECLAIM frees those four entries, keeps
    the healthy connection's requests, which all come back at its TERMINATE."""
    rng = random.Random(19)
    nh, ph, [(ta, _), (tv, _)] = await offload_tree(rings, rng, n_tcp=2)
    post = lambda t, cookie: rings.run(Opcode.POST_SEND, handle=t, cookie=cookie, count=64)
    for i in range(2):
        assert (await post(ta, 0xA0 + i))["status"] == NdisStatus.SUCCESS
    for i in range(3):
        assert (await post(tv, 0xB0 + i))["status"] == NdisStatus.SUCCESS
    assert await reclaim(regs, params) == 0                        # every entry is on a list
    await regs.write("ERRINJ_MASK_LO", 0b11 << 6)
    await regs.write_fields("ERRINJ_CTRL", ARM=1, MEM=MEMORY_ID["tcp_meta"])
    assert (await post(tv, 0xB3))["status"] == NdisStatus.SUCCESS  # its meta update is stored lost
    assert await regs.read_field("ERRINJ_CTRL.ARM") == 0
    lst, bufs = rings.list_for([(tv, idx(ph), ObjType.TCP)])
    cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)    # found: poisoned, events
    assert rings.read_status(bufs[0]) == NdisStatus.FAILURE, cpl
    assert await reclaim(regs, params) == 4
    assert await reclaim(regs, params) == 4                        # nothing more to free
    cpl, bufs = await terminate_one(rings, tv, idx(ph), req_cap=4)  # final: quarantined
    assert rings.read_requests(bufs[0])[0]["list_lost"] == 1
    for i in range(4):                                             # new requests on the healthy one
        cpl = await post(ta, 0xC00 + i)
        assert cpl["status"] == NdisStatus.SUCCESS, (i, cpl)
    cpl, bufs = await terminate_one(rings, ta, idx(ph), req_cap=6)
    hdr, recs = rings.read_requests(bufs[0])
    assert [r["cookie"] for r in recs] == [0xA0, 0xA1] + [0xC00 + i for i in range(4)], hdr


async def windows_confine_dma(rings, regs, mem, params):
    """DMA windows (issue 17): window 0 ends inside a scratch block allocated after the
    rings; addresses past it, or running past it, are refused with BAD_ADDRESS before a
    beat is issued (the AXI monitor checks every AR and AW of the run against the
    engine's latched windows); the reset windows are programmed again at the end."""
    from chimney.contract import LIST_ENTRY, DATA, DELEGATED
    from chimney.contract.windows import reset_windows
    rng = random.Random(21)
    nh, ph, [(th, fields)] = await offload_tree(rings, rng)
    R = mem.alloc(0x2000, 0x1000).addr
    for ring in (rings.cmdq, rings.cplq, rings.evtq):
        assert ring.addr + ring.size <= R                   # the rings lie in window 0
    limit = R + 0xFFF

    async def program(windows):
        await regs.write_fields("CTRL", ENABLE=0)
        for _ in range(100):
            if not await regs.read_field("STATUS.ENABLED"):
                break
        await regs.write_windows(windows)
        await regs.write_fields("CTRL", ENABLE=1)
        for _ in range(100):
            if await regs.read_field("STATUS.ENABLED"):
                return
        raise AssertionError("engine did not enable")

    await program([(0, limit)] + reset_windows(params)[1:])
    nxt = [R]

    def take(n):
        addr = nxt[0]
        nxt[0] += (n + 63) & ~63
        return addr

    def listed(objects):
        """[(handle, parent index, type, {address overrides})] -> list address, Status addresses."""
        raw, status = [], []
        for handle, parent, t, at in objects:
            a = dict(state_addr=take(DELEGATED[t].size), status_addr=take(4), req_addr=take(16))
            a.update(at)
            mem.write(a["status_addr"], b"\xEE" * 4) if a["status_addr"] <= limit else None
            raw.append(LIST_ENTRY.to_bytes(handle=handle, parent=parent, req_cap=0, **a))
            status.append(a["status_addr"])
        lst = take(32 * len(raw))
        mem.write(lst, b"".join(raw))
        return lst, status

    lst, st = listed([(th, idx(ph), ObjType.TCP, {"status_addr": limit + 1}),           # past the limit
                      (th, idx(ph), ObjType.TCP, {"state_addr": limit + 1 - 0x78}),    # its last 4 bytes past
                      (ph, idx(nh), ObjType.PATH, {})])
    mem.write(limit + 1, bytes(4))
    cpl = await rings.run(Opcode.QUERY, addr=lst, count=3)
    assert (cpl["status"], cpl["detail"], cpl["err_index"], cpl["result"]) == \
        (NdisStatus.INVALID_ADDRESS, ErrorCode.BAD_ADDRESS, 0, 2), cpl
    assert mem.read(limit + 1, 4) == bytes(4)                                           # not written
    assert int.from_bytes(mem.read(st[1], 4), "little") == NdisStatus.INVALID_ADDRESS
    assert int.from_bytes(mem.read(st[2], 4), "little") == NdisStatus.SUCCESS
    block = R + 0x1000                                                                  # a load block outside
    mem.write(block, DATA[ObjType.TCP].to_bytes(tcp_fields(rng)))
    cpl = await rings.run(Opcode.OFFLOAD, obj_type=int(ObjType.TCP), handle=ph, addr=block)
    assert cpl["detail"] == ErrorCode.BAD_ADDRESS, cpl
    lst, _ = listed([(th, idx(ph), ObjType.TCP, {})])
    mem.write(limit + 1 - 16, mem.read(lst, 32))                                        # a list running past
    cpl = await rings.run(Opcode.TERMINATE, addr=limit + 1 - 16, count=1)
    assert cpl["detail"] == ErrorCode.BAD_ADDRESS, cpl
    lst, st = listed([(th, idx(ph), ObjType.TCP, {}), (ph, idx(nh), ObjType.PATH, {}),
                      (nh, 0, ObjType.NEIGHBOR, {})])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst, count=3)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    assert nxt[0] <= limit + 1
    await program(reset_windows(params))


ALL = {f.__name__: f for f in (nop_and_unknown_opcode, offload_query_terminate, requests_handed_back_in_order,
                                bad_inputs_refused, hardware_failure_sequence, corrected_error_is_transparent,
                                stale_handle_not_duplicate_256_later, scrub_skips_freed_rows,
                                reclaim_frees_a_lost_list, windows_confine_dma)}
