"""The whole engine in Amaranth's simulator, driven through raw rings."""

import random

import pytest

from chimney.contract import (EngineParams, ObjType, Opcode, NdisStatus, TCP_DATA, PATH_DATA, NEIGHBOR_DATA,
                              WRITE_BACK, ErrorCode, split_handle, Disposition, NO_INDEX)
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from scenarios.raw import RawRings

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


def tcp_fields(rng):
    f = {name: rng.getrandbits(field.width) for name, _, field in TCP_DATA if not name.startswith("rsvd")}
    f["State"] = rng.randrange(11)
    return f


def run(body, params=SMALL, **kw):
    async def bench(ctx, dut, device, memory, axi):
        regs = Registers(device, params)
        rings = RawRings(regs, memory)
        await rings.start()
        await body(rings, regs, memory)
    axi = run_engine(params, bench, **kw)
    assert axi.violations == []


def test_nop_and_unknown_opcode():
    async def body(rings, regs, mem):
        cpl = await rings.run(Opcode.NOP)
        assert (cpl["status"], cpl["seq"], cpl["err_index"]) == (NdisStatus.SUCCESS, 0, NO_INDEX)
        cpl = await rings.run(9)
        assert (cpl["status"], cpl["detail"], cpl["seq"]) == (NdisStatus.NOT_SUPPORTED, ErrorCode.BAD_OPCODE, 1)
        assert await regs.read("ERR_STATUS") == 1 << ErrorCode.BAD_OPCODE
        assert await regs.read("CMD_COUNT") == 2
    run(body)


def test_offload_query_terminate_round_trip():
    rng = random.Random(7)
    async def body(rings, regs, mem):
        nb = await rings.offload(ObjType.NEIGHBOR, {"NicReachabilityDelta": 0x1234, "VlanId": 5}, host_handle=0x111)
        assert nb["status"] == NdisStatus.SUCCESS, nb
        nh = nb["result"]
        assert split_handle(nh)[:3] == (ObjType.NEIGHBOR, 0, 0)
        pa = await rings.offload(ObjType.PATH, {"PathMtu": 1500}, parent=nh, host_handle=0x222)
        assert pa["status"] == NdisStatus.SUCCESS, pa
        ph = pa["result"]
        fields = tcp_fields(rng)
        tc = await rings.offload(ObjType.TCP, fields, parent=ph, host_handle=0x333)
        assert tc["status"] == NdisStatus.SUCCESS, tc
        th = tc["result"]
        lst, bufs = rings.list_for([(th, split_handle(ph)[1], ObjType.TCP)])
        cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
        assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
        assert rings.read_status(bufs[0]) == NdisStatus.SUCCESS
        assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fields)
        # terminate dependents first
        lst, bufs = rings.list_for([(th, split_handle(ph)[1], ObjType.TCP),
                                    (ph, split_handle(nh)[1], ObjType.PATH),
                                    (nh, 0, ObjType.NEIGHBOR)])
        cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=3)
        assert (cpl["status"], cpl["result"], cpl["err_index"]) == (NdisStatus.SUCCESS, 0, NO_INDEX), cpl
        assert [rings.read_status(b) for b in bufs] == [NdisStatus.SUCCESS] * 3
        assert rings.read_delegated(bufs[0]) == WRITE_BACK[ObjType.TCP].image(fields)
        assert rings.read_delegated(bufs[2]) == (0x1234).to_bytes(4, "little")
        hdr, recs = rings.read_requests(bufs[0])
        assert hdr == {"count": 0, "list_lost": 0, "rsvd": 0}
        # the handles are stale now
        cpl = await rings.run(Opcode.QUERY, addr=lst.addr, count=1)
        assert (cpl["status"], cpl["detail"], cpl["err_index"]) == (NdisStatus.INVALID_PARAMETER, ErrorCode.STALE_HANDLE, 0)
    run(body)
