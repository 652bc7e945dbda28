"""DMA read errors at every read a command makes, each followed by healthy commands
(issue 11: a failed list read must not leak into the next command).

Runs on Amaranth-sim and on cocotb: `body(rings, regs, mem, params, faults, seed)`,
with `rings` a started tests.scenarios.raw.RawRings over a host memory with random
back-pressure, and `faults.fail(lo, hi, resp)` / `faults.clear()` making reads of host
bytes [lo, hi) answer `resp` (SLVERR or DECERR). The reads that fail: the command
descriptor (halts the engine; CTRL.RESET recovers it), the OFFLOAD and UPDATE load
block, and the QUERY and TERMINATE list at every entry position. After each fault a
NOP, a QUERY, an OFFLOAD and a TERMINATE of healthy objects must give exactly the
contract's results (completion fields, Status words, delegated bytes, request headers).
"""

import random

from chimney.contract import (ObjType, Opcode, NdisStatus, ErrorCode, WRITE_BACK, DELEGATED, NO_INDEX,
                              COMPLETION, data_words)
from chimney.rtl.axi import RESP_SLVERR, RESP_DECERR
from chimney.sw.bus import DeviceTimeout
from scenarios.engine import offload_tree, tcp_fields, idx

LIST_LEN = 4
POISON32 = 0xEEEEEEEE                # RawRings.list_for's Status poison, must stay when not written
POISON_HDR = b"\xEE" * 8


class Host:
    """The live connections and the checks, over RawRings."""

    def __init__(self, rings, regs, mem, faults, seed):
        self.rings, self.regs, self.mem, self.faults = rings, regs, mem, faults
        self.rng = random.Random(seed)
        self.seed = seed
        self.live = []               # (handle, fields) of offloaded healthy TCP connections

    def where(self, what):
        return f"{what} (CHIMNEY_SEED={self.seed})"

    # ---- objects ---------------------------------------------------------------------
    async def tree(self):
        self.nh, self.ph, self.live = await offload_tree(self.rings, self.rng, n_tcp=LIST_LEN)

    async def offload_tcp(self):
        fields = tcp_fields(self.rng)
        cpl = await self.rings.offload(ObjType.TCP, fields, parent=self.ph, host_handle=0x400 + len(self.live))
        assert (cpl["status"], cpl["err_index"], cpl["detail"]) == (NdisStatus.SUCCESS, NO_INDEX, 0), \
            self.where(f"healthy OFFLOAD: {cpl}")
        self.live.append((cpl["result"], fields))

    async def ensure(self, n):
        while len(self.live) < n:
            await self.offload_tcp()

    def tcp_list(self, conns):
        return self.rings.list_for([(h, idx(self.ph), ObjType.TCP) for h, _ in conns])

    # ---- checks ----------------------------------------------------------------------------
    def expect_cpl(self, cpl, status, detail=0, err_index=NO_INDEX, result=0, what=""):
        got = (cpl["status"], cpl["detail"], cpl["err_index"], cpl["result"])
        assert got == (status, detail, err_index, result), self.where(f"{what}: {cpl}")

    def expect_done(self, buf, fields, terminate, what):
        """A processed healthy entry: SUCCESS, its delegated bytes, an empty request header."""
        assert self.rings.read_status(buf) == NdisStatus.SUCCESS, self.where(what)
        assert self.rings.read_delegated(buf) == WRITE_BACK[ObjType.TCP].image(fields), self.where(what)
        if terminate:
            hdr, _ = self.rings.read_requests(buf)
            assert (hdr["count"], hdr["list_lost"]) == (0, 0), self.where(f"{what}: {hdr}")

    def expect_untouched(self, buf, what):
        """An entry at or after a failed read: nothing written."""
        assert self.rings.read_status(buf) == POISON32, self.where(f"{what}: Status written")
        state = self.mem.read(buf["state"].addr, DELEGATED[ObjType.TCP].size)
        assert state == bytes(len(state)), self.where(f"{what}: delegated bytes written")
        assert self.mem.read(buf["req"].addr, 8) == POISON_HDR, self.where(f"{what}: request header written")

    async def expect_dma_read_error(self, resp, what):
        """ERR_STATUS.DMA_READ and the failed transaction's response; then clear both."""
        err = self.regs.decode("ERR_STATUS", await self.regs.read("ERR_STATUS"))
        assert err["DMA_READ"], self.where(f"{what}: ERR_STATUS {err}")
        info = self.regs.decode("DMA_ERR_INFO", await self.regs.read("DMA_ERR_INFO"))
        assert (info["VALID"], info["RESP"], info["WRITE"]) == (1, resp, 0), self.where(f"{what}: {info}")
        await self.regs.write("ERR_STATUS", 0xFFFFFFFF)
        await self.regs.write("IRQ_STATUS", 0xFFFFFFFF)

    # ---- healthy commands after a fault ---------------------------------------------------
    async def healthy(self, after, full=True):
        """NOP, QUERY, OFFLOAD, TERMINATE of healthy objects (`full`), or the QUERY alone."""
        what = f"after {after}"
        await self.ensure(4)
        if not full:
            return await self.list_ok(Opcode.QUERY, self.live[-2:], f"QUERY {what}")
        cpl = await self.rings.run(Opcode.NOP)
        self.expect_cpl(cpl, NdisStatus.SUCCESS, what=f"NOP {what}")
        await self.list_ok(Opcode.QUERY, self.live[-2:], f"QUERY {what}")
        await self.offload_tcp()
        await self.list_ok(Opcode.TERMINATE, self.live[:2], f"TERMINATE {what}")
        del self.live[:2]

    async def list_ok(self, op, conns, what):
        lst, bufs = self.tcp_list(conns)
        cpl = await self.rings.run(op, addr=lst.addr, count=len(conns))
        self.expect_cpl(cpl, NdisStatus.SUCCESS, what=what)
        for buf, (_, fields) in zip(bufs, conns):
            self.expect_done(buf, fields, op == Opcode.TERMINATE, what)

    # ---- the faults ------------------------------------------------------------------------
    def pick_range(self, lo, beats, k):
        """Beat k fails, alone or with every later beat (the issue's shape)."""
        hi = lo + 8 * (k + 1) if self.rng.random() < 0.5 else lo + 8 * beats
        return lo + 8 * k, hi

    async def list_error(self, op, k, resp, full=True):
        """Entry k of a LIST_LEN list answers `resp` somewhere: entries before k are done,
        nothing is written for k and after, the completion says DMA_READ at k."""
        await self.ensure(LIST_LEN + 2)
        conns = self.live[:LIST_LEN]
        lst, bufs = self.tcp_list(conns)
        lo, hi = self.pick_range(lst.addr + 32 * k, 4 * (LIST_LEN - k), self.rng.randrange(4))
        self.faults.fail(lo, hi, resp)
        cpl = await self.rings.run(op, addr=lst.addr, count=LIST_LEN)
        self.faults.clear()
        what = f"{op.name} list error at entry {k}, [{lo:#x}, {hi:#x}) resp {resp}"
        self.expect_cpl(cpl, NdisStatus.DEVICE_DATA_ERROR, ErrorCode.DMA_READ, k, what=what)
        for i, (buf, (_, fields)) in enumerate(zip(bufs, conns)):
            if i < k:
                self.expect_done(buf, fields, op == Opcode.TERMINATE, f"{what}: entry {i}")
            else:
                self.expect_untouched(buf, f"{what}: entry {i}")
        if op == Opcode.TERMINATE:
            del self.live[:k]
        await self.expect_dma_read_error(resp, what)
        await self.healthy(what, full)

    async def load_error(self, op, obj_type, word, resp):
        """Word `word` of an OFFLOAD or UPDATE load block fails: DEVICE_DATA_ERROR, DMA_READ."""
        n = data_words(obj_type)
        blk = self.mem.alloc(8 * n, 64)
        self.mem.write(blk.addr, bytes(8 * n))
        self.faults.fail(*self.pick_range(blk.addr, n, word), resp)
        if op == Opcode.OFFLOAD:
            cpl = await self.rings.run(op, obj_type=int(obj_type), handle=self.ph, addr=blk.addr, cookie=0x999)
        else:
            cpl = await self.rings.run(op, obj_type=int(obj_type), handle=self.ph, addr=blk.addr)
        self.faults.clear()
        what = f"{op.name} load block error at word {word} resp {resp}"
        self.expect_cpl(cpl, NdisStatus.DEVICE_DATA_ERROR, ErrorCode.DMA_READ, what=what)
        await self.expect_dma_read_error(resp, what)
        await self.healthy(what)

    async def descriptor_error(self, beat, resp):
        """Beat `beat` of the next command descriptor fails: no completion, HALTED,
        CMDQ_CONS stays; CTRL.RESET and a new bring-up recover the engine."""
        rings = self.rings
        slot = rings.cmdq.addr + 32 * (rings.cmd_prod % rings.size)
        cons = await self.regs.read_field("CMDQ_CONS.INDEX")
        self.faults.fail(*self.pick_range(slot, 4, beat), resp)
        await rings.submit(Opcode.NOP)
        await self.wait_halted(f"descriptor error at beat {beat}")
        self.faults.clear()
        what = f"descriptor error at beat {beat} resp {resp}"
        assert await self.regs.read_field("CMDQ_CONS.INDEX") == cons, self.where(what)
        assert rings._entry(rings.cplq, COMPLETION, rings.cpl_cons) is None, \
            self.where(f"{what}: a completion was written")
        await self.expect_dma_read_error(resp, what)
        await self.regs.write_fields("CTRL", RESET=1)
        await rings.restart()
        assert not await self.regs.read_field("STATUS.HALTED"), self.where(f"{what}: still HALTED after reset")
        await self.tree()                              # the reset cleared the tables
        await self.healthy(what)

    async def wait_halted(self, what, polls=500):
        for _ in range(polls):
            if await self.regs.read_field("STATUS.HALTED"):
                return
        raise DeviceTimeout(self.where(f"{what}: STATUS.HALTED not set after {polls} polls"))


async def every_read_fails(rings, regs, mem, params, faults, seed):
    """Each read of each command fails once (SLVERR, some DECERR), healthy commands after."""
    h = Host(rings, regs, mem, faults, seed)
    await h.tree()
    resp = lambda i: RESP_DECERR if (seed + i) % 3 == 0 else RESP_SLVERR
    cases = [(h.list_error, op, k) for op in (Opcode.QUERY, Opcode.TERMINATE) for k in range(LIST_LEN)]
    cases += [(h.load_error, Opcode.OFFLOAD, ObjType.TCP, w) for w in (0, data_words(ObjType.TCP) - 1)]
    cases += [(h.load_error, Opcode.UPDATE, ObjType.PATH, w) for w in range(data_words(ObjType.PATH))]
    cases += [(h.descriptor_error, beat) for beat in range(4)]
    h.rng.shuffle(cases)
    for i, (case, *args) in enumerate(cases):
        await case(*args, resp(i))


async def failed_list_then_query(rings, regs, mem, params, faults, seed, repeats=40):
    """The issue's shape many times over: a list that fails at entry LIST_LEN-2 (alone or
    from there on), then a QUERY of two healthy connections, every 8th time the whole
    healthy set. The race needs the failed entry to be taken in the very cycle the last
    entry's last beat arrives, which only some stall patterns give (about 1 in 30)."""
    h = Host(rings, regs, mem, faults, seed)
    await h.tree()
    for i in range(repeats):
        op = Opcode.TERMINATE if i % 4 == 3 else Opcode.QUERY
        await h.list_error(op, LIST_LEN - 2, (RESP_SLVERR, RESP_DECERR)[i % 3 == 2], full=i % 8 == 7)


ALL = {f.__name__: f for f in (every_read_fails, failed_list_then_query)}
