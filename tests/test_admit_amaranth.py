"""EntryAdmit (rtl/admit.py) against a small sequencer/row-reader model and an oracle of the
rules it must keep: entries in order with the contract's entry checks, a row read exactly
for the entries that pass them, and an early read only when every unfinished entry ahead
will read no table again, never of a row still in flight, never into a slot in use."""

import os
import random

import pytest
from amaranth.sim import Simulator

from chimney.contract import EngineParams, LIST_ENTRY, ObjType, data_words, make_handle, meta_layout
from chimney.contract.checks import first_failing
from chimney.rtl.admit import EntryAdmit
from chimney.rtl.emitter import ROW_SLOTS

P = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
TCP_META = meta_layout(P, ObjType.TCP)


def _seed():
    seed = int(os.environ.get("ADMIT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (ADMIT_SEED={seed} repeats it)")
    return seed


class Facts:
    def __init__(self, e, terminate, wins=(1, 1, 1)):
        self.status_win, self.state_win, self.req_win = wins
        h = e["handle"]
        self.type, self.index, self.gen, self.rsvd = h >> 24 & 3, h & 0xFFFF, h >> 16 & 0xFF, h >> 26
        self.depth = P.depth(ObjType(self.type)) if self.type else 0
        self.terminate = terminate
        for k in ("status_addr", "state_addr", "req_addr", "parent", "req_cap"):
            setattr(self, k, e[k])


def _entries(rng, n, terminate):
    out = []
    for _ in range(n):
        r = rng.random()
        t = ObjType.TCP if r < 0.8 else rng.choice([ObjType.PATH, ObjType.NEIGHBOR])
        idx = rng.randrange(P.depth(t) + (1 if rng.random() < 0.05 else 0))
        e = dict(handle=make_handle(t, idx, rng.randrange(4)), parent=rng.choice([1, 1, 1, 2]),
                 req_cap=4, state_addr=0x1000 * rng.randrange(1, 9), status_addr=0x40 * rng.randrange(1, 9),
                 req_addr=0x2000)
        if rng.random() < 0.05:
            e["status_addr"] |= 2                         # refused at the entry stage
        out.append(e)
    return out


@pytest.mark.parametrize("terminate", [1, 0])
def test_admission_rules(terminate):
    rng = random.Random(_seed())
    dut = EntryAdmit(P)
    entries = _entries(rng, int(os.environ.get("ADMIT_N", 120)), terminate)
    # EntryWindows' three bits, now and then one of them 0 (an address outside the windows)
    wins = [tuple(int(rng.random() > 0.03) for _ in range(3)) for _ in entries]
    facts = [Facts(e, terminate, w) for e, w in zip(entries, wins)]
    want_code = [int(c.code) if (c := first_failing(f, "entry")) else 0 for f in facts]
    st = dict(admitted=[], finished=-1, rows=[], peeked=set(), metas={}, early=0, pend=None, cycles=0)
    busy = [0] * ROW_SLOTS

    def meta_of(j):
        if j not in st["metas"]:
            st["metas"][j] = (rng.random() < 0.1, TCP_META.pack(valid=1, u=("live", {
                "req_count": rng.choice([0, 0, 0, 2]), "parent": entries[j]["parent"]})))
        return st["metas"][j]

    def quiet(i):
        """Oracle: entry i (unfinished) reads no table again."""
        f = facts[i]
        if f.type != ObjType.TCP:
            return False
        if want_code[i]:
            return True
        if i not in st["peeked"]:
            return False
        ue, meta = meta_of(i)
        walk_free = not terminate or ue or TCP_META.unpack(meta, variant={"u": "live"})["u"][1]["req_count"] == 0
        # the pending decrement before i, if every row entry before it decrements its parent
        pend = st["pend"]
        for k in range(st["finished"] + 1, i):
            if facts[k].type == ObjType.TCP and not want_code[k] and terminate:
                pend = facts[k].parent
        flush_free = not terminate or pend in (None, f.parent)
        return walk_free and flush_free

    async def source(ctx):
        await ctx.tick().repeat(2)                            # after `start`
        i = 0
        while i < len(entries):
            ok = rng.random() < 0.8
            ctx.set(dut.entry_in.valid, ok)
            ctx.set(dut.entry_in.payload.raw, LIST_ENTRY.pack(**entries[i]))
            for name, bit in zip(("status_win", "state_win", "req_win"), wins[i]):
                ctx.set(getattr(dut.entry_in.payload, name), bit)
            await ctx.delay(1e-9)
            took = ok and ctx.get(dut.entry_in.ready)
            await ctx.tick()
            assert st["cycles"] < 20000, f"timed out feeding entry {i}"
            i += took
        ctx.set(dut.entry_in.valid, 0)

    async def rowreader(ctx):
        pending = []                                          # (ready cycle, entry index)
        while st["finished"] < len(entries) - 1:
            ctx.set(dut.row_req.ready, rng.random() < 0.7)
            ctx.set(dut.peek_valid, 0)
            for k in range(ROW_SLOTS):
                if busy[k] and rng.random() < 0.1:
                    busy[k] = 0
            told = list(busy)                                 # what the DUT sees this cycle
            ctx.set(dut.slot_busy, sum(b << k for k, b in enumerate(told)))
            if pending and pending[0][0] <= st["cycles"]:
                _, j = pending.pop(0)
                ue, meta = meta_of(j)
                ctx.set(dut.peek_valid, 1)
                ctx.set(dut.peek_meta, meta)
                ctx.set(dut.peek_ue, ue)
                st["peeked"].add(j)
            await ctx.delay(1e-9)
            if ctx.get(dut.row_req.valid) and ctx.get(dut.row_req.ready):
                r = ctx.get(dut.row_req.payload)
                j = len(st["rows"])
                j = [k for k in range(len(entries)) if not want_code[k]][j]      # the j-th row entry
                f = facts[j]
                assert (r.type, r.index, r.base) == (f.type, f.index, f.index * data_words(ObjType(f.type)))
                unfinished = range(st["finished"] + 1, j)
                for i in unfinished:
                    assert quiet(i), f"entry {j} read early while entry {i} may still read"
                    assert want_code[i] or facts[i].index != f.index, f"entry {j}: row {f.index} in flight"
                if f.type != ObjType.TCP:
                    assert not unfinished and st["pend"] is None, "path/neighbor read before the flush"
                in_use = {st["slot_of"][i] for i in unfinished if i in st.get("slot_of", {})}
                assert not told[r.slot] and r.slot not in in_use, f"slot {r.slot} in use"
                st.setdefault("slot_of", {})[j] = r.slot
                st["early"] += bool(unfinished) or st["working"]
                st["rows"].append(j)
                pending.append((st["cycles"] + rng.randint(2, 6), j))
            await ctx.tick()

    async def sequencer(ctx):
        ctx.set(dut.is_term, terminate)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        st["working"] = False
        while st["finished"] < len(entries) - 1:
            st["cycles"] += 1
            assert st["cycles"] < 20000, "timed out"
            ctx.set(dut.seq_waiting, 1)
            ctx.set(dut.pend_valid, st["pend"] is not None)
            ctx.set(dut.pend_type, ObjType.PATH)
            ctx.set(dut.pend_idx, st["pend"] or 0)
            ctx.set(dut.entries.ready, 1)
            await ctx.delay(1e-9)
            if ctx.get(dut.flush_req):
                ctx.set(dut.entries.ready, 0)
                ctx.set(dut.seq_waiting, 0)
                await ctx.tick().repeat(2)                    # the flush: read, write
                st["pend"] = None
                continue
            if not ctx.get(dut.entries.valid):
                await ctx.tick()
                continue
            q = ctx.get(dut.entries.payload)
            j = st["finished"] + 1
            assert q.raw == LIST_ENTRY.pack(**entries[j]) and q.code == want_code[j]
            assert q.has_row == (want_code[j] == 0)
            await ctx.tick()
            ctx.set(dut.entries.ready, 0)
            ctx.set(dut.seq_waiting, 0)
            st["working"] = True
            if q.has_row:
                while j not in st["peeked"]:                  # the row arrives after its meta
                    st["cycles"] += 1
                    assert st["cycles"] < 20000, f"entry {j}: its meta word never came"
                    await ctx.tick()
                await ctx.tick().repeat(rng.randint(1, 12))
                busy[q.slot] = 1                              # its delegated bytes go out
                if terminate and facts[j].type == ObjType.TCP:
                    ue, meta = meta_of(j)
                    if st["pend"] not in (None, facts[j].parent):
                        await ctx.tick().repeat(2)            # a flush the entry itself makes
                    st["pend"] = facts[j].parent
                elif terminate:
                    st["pend"] = None if facts[j].type == ObjType.NEIGHBOR else 1
            else:
                await ctx.tick().repeat(rng.randint(1, 3))
            st["working"] = False
            st["finished"] = j

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(rowreader)
    sim.add_testbench(sequencer)
    sim.run()
    assert st["early"] > len(entries) // 10, f"only {st['early']} rows read early: the pipeline never overlapped"
