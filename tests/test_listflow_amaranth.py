"""The list flow (rtl/listflow.py) with the stages it works with (ReadCollector, EntryAdmit,
RowReader, RequestWalker, the real state tables) against the reference model (sw/model):
random QUERY and TERMINATE lists over tables the model filled (OFFLOAD and POST through the
model alone), with bit flips in the stored words (the same flips in both) and failing list
reads.

For every command the list flow's result (status, detail, err_index, result) must be the
model's completion; the host bytes its emit commands write (Status words and request
headers as written, delegated bytes formatted by the contract's WRITE_BACK image from the
row slot the RowReader filled, request records from the walker) must be the bytes the
model writes; its events, quarantine pulses and ERR_STATUS bits (the list flow's own: not
the tables' ECC reporting, which is not in this harness) the model's; and every word of
every memory must decode to the model's."""

import os
import random

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from chimney.contract import (EngineParams, ObjType, Opcode, ErrorCode, COMMAND, LIST_ENTRY, MEMORIES,
                              DATA, WRITE_BACK, data_words, memory_depth, make_handle)
from chimney.contract.rows import TAG_BITS
from chimney.contract.windows import reset_windows
from chimney.rtl.windows import EntryWindows
from chimney.rtl.admit import EntryAdmit
from chimney.rtl.collector import ReadCollector
from chimney.rtl.eccmem import peek, poke
from chimney.rtl.emitter import EmitKind
from chimney.rtl.listflow import ListFlow
from chimney.rtl.portmux import merge_table_clients
from chimney.rtl.rowreader import RowReader
from chimney.rtl.tables import StateTables
from chimney.rtl.walker import RequestWalker
from chimney.sw.model import RefEngine
from chimney.tb.tables_check import load_tables, assert_tables_equal

P = EngineParams(n_neighbor=4, n_path=4, n_tcp=8, n_req=8)
N = int(os.environ.get("LIST_N", 60))
LOADS, LIST, OUT, END = 0x10000, 0x20000, 0x30000, 0x40000
SLOT = 0x200                           # host memory per list entry: state, status, requests
ECC_BITS = (1 << ErrorCode.ECC_CORRECTED) | (1 << ErrorCode.ECC_UNCORRECTABLE)


def _seed():
    seed = int(os.environ.get("LIST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (LIST_SEED={seed} repeats it)")
    return seed


class _Host:
    """Host memory [LOADS, END): reads of `bad` fail; the model's writes are recorded."""

    def __init__(self, rng):
        self.data = bytearray(rng.getrandbits(8) for _ in range(END - LOADS))
        for off in range(0, LIST - LOADS, 8):     # most TCP load blocks carry a legal State
            if rng.random() < 0.9:
                self.data[off] &= 0xF0 | rng.randrange(11)
        self.bad = None
        self.writes = {}

    def fails(self, addr, length):
        return (addr < LOADS or addr + length > END
                or (self.bad is not None and addr < self.bad[1] and self.bad[0] < addr + length))

    def read(self, addr, length):
        if self.fails(addr, length):
            raise IndexError(addr)
        return bytes(self.data[addr - LOADS:addr - LOADS + length])

    def write(self, addr, data):
        for i, b in enumerate(data):
            self.writes[addr + i] = b


def _rows(model, t):
    """(row, meta) of every offloaded row of table t."""
    return [(r, model.meta(t, r)) for r in range(P.depth(t)) if model.meta(t, r).valid]


def _grow(rng, model):
    """OFFLOADs and POSTs through the model alone, so the lists find live objects."""
    for _ in range(rng.randrange(1, 6)):
        t = rng.choice([ObjType.NEIGHBOR, ObjType.PATH, ObjType.TCP, ObjType.TCP])
        parents = [make_handle(t - 1, r, m.gen) for r, m in _rows(model, ObjType(t - 1))] if t != 1 else [0]
        addr = LOADS + 8 * rng.randrange((LIST - LOADS) // 8 - 12)
        if parents:
            model._cmd_offload(dict(opcode=Opcode.OFFLOAD, obj_type=int(t), tag=0, handle=rng.choice(parents),
                                    addr=addr, count=0, cookie=rng.getrandbits(32)))
    for _ in range(rng.randrange(0, 4)):
        conns = [make_handle(ObjType.TCP, r, m.gen) for r, m in _rows(model, ObjType.TCP)]
        if conns:
            model._cmd_post(dict(opcode=rng.choice([Opcode.POST_SEND, Opcode.POST_RECV]), obj_type=0, tag=0,
                                 handle=rng.choice(conns), addr=0, count=rng.randrange(1, 100), cookie=rng.getrandbits(32)))


def _entry(rng, model, k):
    """List entry k: mostly a live object with its own parent, sometimes anything."""
    t = rng.choice([ObjType.TCP] * 3 + [ObjType.PATH, ObjType.NEIGHBOR])
    rows = _rows(model, t)
    base = OUT + SLOT * k
    if rows and rng.random() < 0.85:
        r, m = rng.choice(rows)
        handle = make_handle(t, r, m.gen if rng.random() < 0.95 else m.gen ^ 1)
        parent = m.parent if rng.random() < 0.95 else rng.randrange(8)
    else:
        handle = rng.choice([make_handle(t, rng.randrange(P.depth(t) + 1), rng.getrandbits(8)),
                             rng.getrandbits(32), 0])
        parent = rng.randrange(8)
    status = rng.choice([base + 0x100] * 12 + [0, base + 0x101])
    return dict(handle=handle, parent=parent, req_cap=rng.choice([P.n_req] * 6 + [0, 1, 2]),
                state_addr=base, status_addr=status, req_addr=base + 0x180)


def test_list_flow_against_model():
    seed = _seed()
    rng, bus_rng = random.Random(seed), random.Random(seed + 1)
    host = _Host(rng)
    model = RefEngine(P, memory=host)
    top = Module()
    top.submodules.tables = tables = StateTables(P)
    top.submodules.col = col = ReadCollector()
    top.submodules.rr = rr = RowReader(P)
    top.submodules.admit = admit = EntryAdmit(P)
    top.submodules.walker = walker = RequestWalker(P)
    top.submodules.lst = lst = ListFlow(P)
    merge_table_clients(top, P, tables.engine, [rr.tables, walker.tables, lst.tables])
    desc, is_term, tag = Signal(COMMAND.amaranth()), Signal(), Signal(TAG_BITS)
    top.submodules.ewin = ewin = EntryWindows(P)          # the reset windows: all of memory
    wiring.connect(top, col.entry, ewin.i)
    wiring.connect(top, ewin.o, admit.entry_in)
    for i, (b, l) in enumerate(reset_windows(P)):
        top.d.comb += [ewin.windows[i].base.eq(b), ewin.windows[i].limit.eq(l)]
    wiring.connect(top, admit.row_req, rr.req)
    wiring.connect(top, rr.resp, lst.row_resp)
    wiring.connect(top, admit.entries, lst.entries)
    wiring.connect(top, lst.walk, walker.req)
    wiring.connect(top, walker.resp, lst.walk_done)
    top.d.comb += [admit.peek_valid.eq(rr.peek_valid), admit.peek_meta.eq(rr.peek_meta), admit.peek_ue.eq(rr.peek_ue),
                   admit.is_term.eq(is_term), admit.seq_waiting.eq(lst.seq_waiting), admit.drop.eq(lst.admit_drop),
                   admit.pend_valid.eq(lst.pend_valid), admit.pend_type.eq(lst.pend_type),
                   admit.pend_idx.eq(lst.pend_idx), admit.slot_busy.eq(0),
                   lst.flush_req.eq(admit.flush_req), lst.admit_empty.eq(admit.empty & ewin.empty),
                   ewin.clear.eq(admit.start | lst.admit_drop), lst.col_done.eq(col.done),
                   col.drain.eq(lst.col_drain), col.list_mode.eq(1), lst.desc.eq(desc), lst.cmd_tag.eq(tag)]
    state = {"done": False}
    run = {}                               # what the RTL did in the current command
    beats = []                             # the list read's beats, fed to the collector

    async def feeder(ctx):
        """The DMA read channel: the list's beats, a few cycles late, with random gaps."""
        while not state["done"]:
            if beats:
                for _ in range(bus_rng.randrange(0, 3)):
                    await ctx.tick()
                ctx.set(col.beats.payload, beats.pop(0))
                ctx.set(col.beats.valid, 1)
                await ctx.tick().until(col.beats.ready)
                ctx.set(col.beats.valid, 0)
            else:
                await ctx.tick()

    async def monitor(ctx):
        """The emitter, the ring writer and the record sink: takes what the list flow sends
        (the emitter with random back-pressure) and records it as host bytes."""
        slots = {}
        records = []                        # RECORDS commands waiting for their beats
        ctx.set(walker.rec.ready, 1)
        while not state["done"]:
            ctx.set(lst.emit.ready, int(bus_rng.random() < 0.8))
            ctx.set(lst.events.ready, ctx.get(lst.events.valid))
            _, _, ev, er, e, rv, rd, xv, xr, xp, swe, ssel, sword, sdata, q, lost, err = await ctx.tick().sample(
                lst.emit.valid, lst.emit.ready, lst.emit.payload, walker.rec.valid, walker.rec.payload,
                lst.events.valid, lst.events.ready, lst.events.payload,
                rr.slot_we, rr.slot_sel, rr.slot_word, rr.slot_data, lst.quarantine, walker.lost, lst.err_set)
            w = run.setdefault("writes", {})
            if ev and er:
                kind = EmitKind(e.kind) if not isinstance(e.kind, EmitKind) else e.kind
                if kind == EmitKind.WORD:
                    for i in range(8):
                        if e.strb >> i & 1:
                            w[e.addr + i] = e.data >> (8 * i) & 0xFF
                elif kind == EmitKind.DELEG:
                    t = ObjType(e.obj_type)
                    words = slots.get(int(e.slot), {})
                    row = sum(words.get(i, 0) << (64 * i) for i in range(data_words(t)))
                    for i, b in enumerate(WRITE_BACK[t].image(DATA[t].unpack(row))):
                        w[e.addr + i] = b
                elif kind == EmitKind.RECORDS:
                    records.extend(e.addr + 8 * i for i in range(e.count))
                    run["walks"] = run.get("walks", 0) + 1
                else:
                    raise AssertionError(f"list flow emitted {kind}")
            if rv:
                assert records, "a request record the emitter was not told about"
                a = records.pop(0)
                for i in range(8):
                    w[a + i] = rd >> (8 * i) & 0xFF
            if xv and xr:
                run.setdefault("events", []).extend([(xp.handle, xp.host_handle)] * 2)
            if swe:
                slots.setdefault(int(ssel), {})[int(sword)] = sdata
            run["quarantine"] = run.get("quarantine", 0) + q + lost
            run["err"] = run.get("err", 0) | err | (lost << ErrorCode.ECC_UNCORRECTABLE)

    async def bench(ctx):
        await ctx.tick().until(tables.ready)
        kinds, walks = set(), 0
        for n in range(N):
            _grow(rng, model)
            load_tables(ctx, P, tables, model)   # the RTL's tables are the model's, word for word
            for _ in range(rng.choice([0, 0, 1, 2])):
                name = rng.choice([m for m, _, _ in MEMORIES])
                addr, mask = rng.randrange(memory_depth(P, name)), 0
                for bit in rng.sample(range(72), rng.choice([1, 2, 2, 3])):
                    mask |= 1 << bit
                model.flip(name, addr, mask)
                poke(ctx, tables.mems[name], addr, peek(ctx, tables.mems[name], addr) ^ mask)
            terminate = rng.random() < 0.7
            count = rng.randrange(1, 7)
            entries = [_entry(rng, model, k) for k in range(count)]
            if terminate:                         # mostly in the order a host terminates
                entries.sort(key=lambda e: -(e["handle"] >> 24 & 3) if rng.random() < 0.8 else 0)
            raw = b"".join(LIST_ENTRY.to_bytes(e) for e in entries)
            host.data[LIST - LOADS:LIST - LOADS + len(raw)] = raw
            host.bad = None
            if rng.random() < 0.1:
                k = rng.randrange(count)
                host.bad = (LIST + 32 * k, LIST + 32 * k + 32)
            opcode = Opcode.TERMINATE if terminate else Opcode.QUERY
            cmd = dict(opcode=opcode, obj_type=0, tag=n, handle=0, addr=LIST, count=count, cookie=0)
            # the model's answer
            host.writes = {}
            model._out.clear()
            model._stored["ERR_STATUS"] = 0
            model.cmd_count = n
            q0 = model.quarantined
            done = model._list_command(cmd, terminate)
            want = dict(status=int(done.status), detail=done.detail, err_index=done.err_index, result=done.result,
                        writes=dict(host.writes), quarantine=model.quarantined - q0,
                        events=[(f["handle"], f["host_handle"]) for kind, f in model._out if kind == "evt"],
                        err=model._stored["ERR_STATUS"] & ~ECC_BITS)
            # the RTL's: the router's part (list read, EntryAdmit and collector started), then the flow
            run.clear()
            ctx.set(desc, {k: cmd[k] for k in ("opcode", "obj_type", "tag", "handle", "addr", "count", "cookie")})
            ctx.set(is_term, terminate)
            ctx.set(tag, n & ((1 << TAG_BITS) - 1))
            ctx.set(col.start, 1)
            ctx.set(admit.start, 1)
            await ctx.tick()
            ctx.set(col.start, 0)
            ctx.set(admit.start, 0)
            for b in range(4 * count):
                err = host.fails(LIST + 8 * b, 8)
                word = 0 if err else int.from_bytes(host.data[LIST - LOADS + 8 * b:LIST - LOADS + 8 * b + 8], "little")
                beats.append({"data": word, "err": err, "last": b == 4 * count - 1})
            ctx.set(lst.start, 1)
            await ctx.tick()
            ctx.set(lst.start, 0)
            for _ in range(3000):
                if ctx.get(lst.done.valid):
                    break
                assert not ctx.get(lst.upset), "the list flow's state check fired"
                await ctx.tick()
            else:
                raise AssertionError(f"command {n}: no result within 3000 cycles ({entries})")
            r = ctx.get(lst.done.payload)
            ctx.set(lst.done.ready, 1)
            await ctx.tick()
            ctx.set(lst.done.ready, 0)
            for _ in range(8):                    # the last records and pulses are in
                await ctx.tick()
            assert not beats, "the list flow ended before the list was read"
            got = dict(status=r.status, detail=r.detail, err_index=r.err_index, result=r.result,
                       writes=run.get("writes", {}), quarantine=run.get("quarantine", 0),
                       events=run.get("events", []), err=run.get("err", 0) & ~ECC_BITS)
            # request records past the header's count are undefined (docs/interface.md): the
            # RTL writes zero records for what a broken list could not give, the model nothing
            for e in entries:
                hdr = [want["writes"].get(e["req_addr"] + i) for i in range(4)]
                if None not in hdr:
                    past = e["req_addr"] + 8 + 8 * int.from_bytes(bytes(hdr), "little")
                    for a in range(past, e["req_addr"] + 8 + 8 * P.n_req):
                        if a not in want["writes"]:
                            got["writes"].pop(a, None)
            where = f"command {n} ({opcode.name} of {count}: {entries}, bad {host.bad})"
            for key in want:
                if key == "writes":
                    diff = sorted(a for a in set(got[key]) | set(want[key]) if got[key].get(a) != want[key].get(a))
                    assert not diff, (f"{where}: host bytes differ at {[hex(a) for a in diff[:8]]}: RTL "
                                      f"{[got[key].get(a) for a in diff[:8]]}, model {[want[key].get(a) for a in diff[:8]]}")
                else:
                    assert got[key] == want[key], f"{where}: {key}: RTL {got[key]}, model {want[key]}"
            assert_tables_equal(ctx, P, tables, model, where)
            kinds.add((opcode.name, ErrorCode(done.detail).name, bool(want["events"]), want["result"] > 0))
            walks += run.get("walks", 0)
        state["done"] = True
        print(sorted(kinds))
        details = {k[1] for k in kinds}
        if N >= 60:
            assert {"NONE", "STALE_HANDLE"} <= details, f"never reached: {details}"
            assert any(k[2] for k in kinds), "no command ended with events"
            assert walks, "no request list was walked"
        print(f"{walks} request lists walked")

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(bench)
    sim.run()
