"""The command flows (rtl/offload.py, post.py, update.py, scrubfind.py) on the real state
tables, read collector and row reader, against the reference model (sw/model): one random
sequence of OFFLOAD, POST_SEND/RECV, UPDATE commands and scrubber findings, with bit
flips in the stored words (the same flips in both) and failing host reads between them.
After every command the flow's result (code, result, events and their handle and host
handle, quarantine pulses) must be the model's, and every word of every memory must
decode to the model's (value and whether it is uncorrectable)."""

import os
import random

from amaranth.hdl import Module, Signal, Cat
from amaranth.sim import Simulator

from chimney.contract import (EngineParams, ObjType, Opcode, ErrorCode, COMMAND, MEMORIES, memory_depth,
                              memory_id, make_handle, MAX_POST_LENGTH)
from chimney.contract.rows import MEMORY_ID
from chimney.rtl.collector import ReadCollector
from chimney.rtl.eccmem import peek, poke
from chimney.rtl.offload import OffloadFlow
from chimney.rtl.portmux import merge_table_clients
from chimney.rtl.post import PostFlow
from chimney.rtl.rowreader import RowReader
from chimney.rtl.scrubfind import ScrubFindings, SCRUB_META_LOST, SCRUB_ROW_BAD, SCRUB_POOL_LOST
from chimney.rtl.tables import StateTables
from chimney.rtl.update import UpdateFlow
from chimney.sw.model import RefEngine
from chimney.tb.tables_check import load_tables, assert_tables_equal

P = EngineParams(n_neighbor=4, n_path=4, n_tcp=8, n_req=8)
N = int(os.environ.get("FLOW_N", 250))
BASE, SIZE = 0x10000, 0x1000         # host memory the load blocks live in


def _seed():
    seed = int(os.environ.get("FLOW_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (FLOW_SEED={seed} repeats it)")
    return seed


class _Memory:
    def __init__(self, rng):
        self.data = bytearray(rng.getrandbits(8) for _ in range(SIZE))
        for off in range(0, SIZE, 8):            # most TCP load blocks carry a legal State
            if rng.random() < 0.9:
                self.data[off] &= 0xF0 | rng.randrange(11)
        self.bad = None                          # [lo, hi): reads there fail

    def fails(self, addr, length):
        return (addr < BASE or addr + length > BASE + SIZE
                or (self.bad is not None and addr < self.bad[1] and self.bad[0] < addr + length))

    def read(self, addr, length):
        if self.fails(addr, length):
            raise IndexError(addr)
        return bytes(self.data[addr - BASE:addr - BASE + length])


def _live(model, types):
    out = []
    for t in types:
        for r in range(P.depth(t)):
            m = model.meta(t, r)
            if m.valid and not m.failed and not m.poisoned:
                out.append(make_handle(t, r, m.gen))
    return out


def _any_handle(rng, model, types):
    live = _live(model, types)
    if live and rng.random() < 0.8:
        return rng.choice(live)
    t = rng.choice(types)
    return rng.choice([make_handle(t, rng.randrange(P.depth(t) + 1), rng.getrandbits(8) & 0xF),
                       rng.getrandbits(32), 0])


def _command(rng, model):
    """One random job: ("cmd", fields) or ("scrub", report fields)."""
    addr = rng.choice([BASE + 8 * rng.randrange(SIZE // 8 - 12)] * 8 + [0, BASE + 4, BASE + SIZE - 8])
    kind = rng.choice(["offload"] * 4 + ["post"] * 3 + ["update"] * 2 + ["scrub"] * 2)
    if kind == "offload":
        t = rng.choice([1, 2, 3, 1, 2, 3, 0, 4])
        parent = 0 if t == 1 else _any_handle(rng, model, [ObjType(t - 1)] if t in (2, 3) else [ObjType.TCP])
        if t == 1 and rng.random() < 0.1:
            parent = rng.getrandbits(32)
        return "cmd", dict(opcode=Opcode.OFFLOAD, obj_type=t, handle=parent, addr=addr, cookie=rng.getrandbits(32))
    if kind == "post":
        count = rng.choice([1, 1, rng.randrange(1, MAX_POST_LENGTH + 1), 0, MAX_POST_LENGTH + 1])
        return "cmd", dict(opcode=rng.choice([Opcode.POST_SEND, Opcode.POST_RECV]),
                           handle=_any_handle(rng, model, [ObjType.TCP]), count=count, cookie=rng.getrandbits(32))
    if kind == "update":
        t = rng.choice([1, 2, 3, 1, 2, 0])
        h = _any_handle(rng, model, [ObjType(t)] if t in (1, 2, 3) else list(ObjType))
        return "cmd", dict(opcode=Opcode.UPDATE, obj_type=t, handle=h, addr=addr)
    if rng.random() < 0.25:
        return "scrub", dict(mem=MEMORY_ID["req_pool"], addr=rng.randrange(P.n_req), kind=SCRUB_POOL_LOST)
    t = rng.choice(list(ObjType))
    live = [h & 0xFFFF for h in _live(model, [t])]
    row = rng.choice(live) if live and rng.random() < 0.7 else rng.randrange(P.depth(t))
    return "scrub", dict(mem=memory_id(t, rng.choice(["meta", "data", "ident"])), addr=row,
                         kind=rng.choice([SCRUB_META_LOST, SCRUB_ROW_BAD]))


def _offload_failing_read(rng):
    """A neighbor OFFLOAD (no parent to check) whose load-block read fails. Drawn early in a
    run, while the neighbor table still has room, until a job has ended in DMA_READ: a plain
    draw missed that code in about 1% of runs (seeds 1005377527, 927145187), where the failing
    reads all fell on commands an earlier check stopped, or the tables had filled first."""
    return "cmd", dict(opcode=Opcode.OFFLOAD, obj_type=int(ObjType.NEIGHBOR), handle=0,
                       addr=BASE + 8 * rng.randrange(SIZE // 8 - 12), cookie=rng.getrandbits(32), _fail_read=True)


def _model_run(model, job, fields):
    """The model's answer: (code, result, events [(handle, host)], quarantined delta)."""
    q0 = model.quarantined
    model._out.clear()
    if job == "scrub":
        if fields["kind"] == SCRUB_POOL_LOST:
            from chimney.sw.model.tables import PoolEntry
            model.tables.write_entry(fields["addr"], PoolEntry(used=1, poisoned=1))
            model.quarantined += 1
        else:
            t = MEMORIES[fields["mem"]][1]
            model._scrub_report(t, fields["addr"], meta_lost=fields["kind"] == SCRUB_META_LOST)
        code, result = 0, 0
    else:
        cmd = {k: 0 for k in ("obj_type", "tag", "handle", "addr", "count", "cookie")}
        cmd.update(fields)
        done = {Opcode.OFFLOAD: model._cmd_offload, Opcode.POST_SEND: model._cmd_post,
                Opcode.POST_RECV: model._cmd_post, Opcode.UPDATE: model._cmd_update}[cmd["opcode"]](cmd)
        code, result = int(done.detail), done.result
    events = [(f["handle"], f["host_handle"]) for kind, f in model._out if kind == "evt"]
    return code, result, events, model.quarantined - q0


def _flip(rng, model, ctx, tables):
    """The same one or two flipped bits in one stored word of the model and the RTL."""
    name = rng.choice([n for n, _, _ in MEMORIES])
    addr = rng.randrange(memory_depth(P, name))
    mask = 0
    for bit in rng.sample(range(72), rng.choice([1, 2, 2])):
        mask |= 1 << bit
    model.flip(name, addr, mask)
    poke(ctx, tables.mems[name], addr, peek(ctx, tables.mems[name], addr) ^ mask)


def test_flows_against_model():
    seed = _seed()
    rng, dma_rng = random.Random(seed), random.Random(seed + 1)
    mem = _Memory(rng)
    model = RefEngine(P, memory=mem)
    top = Module()
    top.submodules.tables = tables = StateTables(P)
    top.submodules.col = col = ReadCollector()
    top.submodules.rr = rr = RowReader(P)
    flows = {"offload": OffloadFlow(P), "post": PostFlow(P), "update": UpdateFlow(P), "scrub": ScrubFindings(P)}
    for name, f in flows.items():
        top.submodules[name] = f
    merge_table_clients(top, P, tables.engine, [rr.tables] + [f.tables for f in flows.values()])
    desc = Signal(COMMAND.amaranth())
    loads = (flows["offload"], flows["update"])
    rd_valid, rd_addr, rd_beats = Signal(), Signal(64), Signal(16)
    for f in flows.values():
        top.d.comb += f.desc.eq(desc)
    for f in loads:
        top.d.comb += [f.col_done.eq(col.done), f.col_err.eq(col.buf_err), f.words.eq(col.words)]
        with top.If(f.rd_req.valid):
            top.d.comb += [rd_addr.eq(f.rd_req.payload.addr), rd_beats.eq(f.rd_req.payload.beats)]
    top.d.comb += [rd_valid.eq(Cat(f.rd_req.valid for f in loads).any()),
                   col.start.eq(Cat(f.col_start for f in loads).any()), col.list_mode.eq(0)]
    rd_ready = Signal()
    for f in loads:
        top.d.comb += f.rd_req.ready.eq(rd_ready)
    u = flows["update"]
    top.d.comb += [rr.req.valid.eq(u.row_req.valid), rr.req.payload.eq(u.row_req.payload),
                   u.row_req.ready.eq(rr.req.ready), u.row_resp.valid.eq(rr.resp.valid),
                   u.row_resp.payload.eq(rr.resp.payload), rr.resp.ready.eq(u.row_resp.ready),
                   u.slot.eq(0), u.slot_busy.eq(0)]
    reached = set()
    state = {"done": False, "quarantine": 0}

    async def dma(ctx):
        """The read channel: a request is taken, its beats follow after a few cycles."""
        while not state["done"]:
            if ctx.get(rd_valid):
                addr, beats = ctx.get(rd_addr), ctx.get(rd_beats)
                ctx.set(rd_ready, 1)
                await ctx.tick()
                ctx.set(rd_ready, 0)
                for _ in range(dma_rng.randrange(1, 4)):
                    await ctx.tick()
                err = mem.fails(addr, 8 * beats)
                for k in range(beats):
                    off = addr - BASE + 8 * k
                    word = 0 if err else int.from_bytes(mem.data[off:off + 8], "little")
                    ctx.set(col.beats.payload, {"data": word, "err": err, "last": k == beats - 1})
                    ctx.set(col.beats.valid, 1)
                    await ctx.tick().until(col.beats.ready)
                ctx.set(col.beats.valid, 0)
            await ctx.tick()

    async def pulses(ctx):
        async for _, _, *q in ctx.tick().sample(*(f.quarantine for f in flows.values())):
            state["quarantine"] += sum(q)
            if state["done"]:
                return

    async def bench(ctx):
        await ctx.tick().until(tables.ready)
        load_tables(ctx, P, tables, model)          # the model's power-on tables, word for word
        for n in range(N):
            job, fields = _command(rng, model)          # from the model's live rows
            if n < N // 10 and not any(r[2] == "DMA_READ" for r in reached) and rng.random() < 0.3:
                job, fields = _offload_failing_read(rng)     # coverage: see there
            if rng.random() < 0.15:
                _flip(rng, model, ctx, tables)
            mem.bad = None
            fail_read = fields.pop("_fail_read", False)
            if (rng.random() < 0.1 or fail_read) and fields.get("addr"):
                lo = fields["addr"] + 8 * rng.randrange(4)      # one of the load block's words
                mem.bad = (lo, lo + 8)
            want = _model_run(model, job, fields)
            if job == "scrub":
                f = flows["scrub"]
                ctx.set(f.report.payload, fields)
                ctx.set(f.report.valid, 1)
            else:
                f = flows[{Opcode.OFFLOAD: "offload", Opcode.UPDATE: "update"}.get(fields["opcode"], "post")]
                ctx.set(desc, {k: fields.get(k, 0) for k in ("opcode", "obj_type", "handle", "addr", "count",
                                                             "cookie")})
            state["quarantine"] = 0
            ctx.set(f.start, 1)
            await ctx.tick()
            ctx.set(f.start, 0)
            ctx.set(f.done.ready, 1)
            for _ in range(200):
                if job == "scrub" and ctx.get(f.report.ready):
                    await ctx.tick()
                    ctx.set(f.report.valid, 0)
                    continue
                if ctx.get(f.done.valid):
                    break
                assert not ctx.get(Cat(g.upset for g in flows.values()).any()), "a flow's state check fired"
                await ctx.tick()
            else:
                raise AssertionError(f"job {n} ({job} {fields}): no result within 200 cycles")
            r = ctx.get(f.done.payload)
            await ctx.tick()
            ctx.set(f.done.ready, 0)
            events = [(r["ev_handle"], r["ev_host"])] * 2 if r["events"] else []
            got = (r["code"], r["result"] if r["code"] == 0 else 0, events, state["quarantine"])
            code, result, ev, q = want
            assert got == (code, result if code == 0 else 0, ev, q), f"job {n}: {job} {fields}: RTL {got}, model {want}"
            assert_tables_equal(ctx, P, tables, model, f"job {n}")
            reached.add((job, fields.get("opcode"), ErrorCode(code).name, bool(ev)))
        state["done"] = True

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(dma, background=True)
    sim.add_testbench(pulses, background=True)
    sim.add_testbench(bench)
    sim.run()
    codes = {r[2] for r in reached}
    print(sorted(reached))
    if N >= 250:
        missing = {"NONE", "BAD_HANDLE", "BAD_ADDRESS", "PARENT", "STALE_HANDLE", "BAD_LENGTH", "DMA_READ",
                   "CONN_FAILED", "TABLE_FULL"} - codes
        assert not missing, f"never reached: {missing}"
        assert any(r[3] for r in reached), "no job ended with events"
