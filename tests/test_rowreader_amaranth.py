"""RowReader (rtl/rowreader.py) on the real state tables: rows stored through the back door
with clean words, single flips, double flips and a wrong row CRC; a Python oracle built
from chimney.contract.ecc says what each read must report and which words reach the slot."""

import os
import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from chimney.contract import EngineParams, IDENT, ObjType, data_words, word_code
from chimney.contract.ecc import ecc_encode, row_crc
from chimney.rtl.eccmem import poke
from chimney.rtl.rowreader import RowReader, TYPE_NAME
from chimney.rtl.tables import StateTables

P = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)


def _seed():
    seed = int(os.environ.get("ROW_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (ROW_SEED={seed} repeats it)")
    return seed


def _store(ctx, tables, name, addr, value, flips=()):
    code = word_code(P, name)
    word = code.encode(value) if code is not None else ecc_encode(value)
    for bit in flips:
        word ^= 1 << bit
    poke(ctx, tables.mems[name], addr, word)


@pytest.mark.parametrize("with_meta", [1, 0])
def test_rows_against_oracle(with_meta):
    rng = random.Random(_seed())
    tables = StateTables(P)
    rr = RowReader(P)
    top = Module()
    top.submodules.tables, top.submodules.rr = tables, rr
    wiring.connect(top, rr.tables, tables.engine)
    cases = []
    for i in range(40):
        t = rng.choice(list(ObjType))
        idx = rng.randrange(P.depth(t))
        words = [rng.getrandbits(64) for _ in range(data_words(t))]
        host = rng.getrandbits(32)
        fault = rng.choice(["clean", "clean", "ce_data", "ue_data", "ue_ident", "crc", "ue_meta"])
        cases.append((t, idx, words, host, fault, rng.getrandbits(40), i & 1))
    got_slots = {}

    async def slot_monitor(ctx):
        async for clk_edge, rst, we, sel, word, value in ctx.tick().sample(
                rr.slot_we, rr.slot_sel, rr.slot_word, rr.slot_data):
            if we:
                got_slots.setdefault(sel, {})[word] = value

    async def bench(ctx):
        await ctx.tick().until(tables.ready)
        for t, idx, words, host, fault, meta, slot in cases:
            n = TYPE_NAME[t]
            w = data_words(t)
            crc = row_crc(words, host) ^ (1 if fault == "crc" else 0)
            for k, value in enumerate(words):
                flips = {"ce_data": (k == 1 % w) and (5,) or (), "ue_data": (k == 0) and (3, 40) or ()}.get(fault, ())
                _store(ctx, tables, f"{n}_data", idx * w + k, value, flips)
            ident = IDENT.pack(host_handle=host, crc=crc)
            _store(ctx, tables, f"{n}_ident", idx, ident, (1, 2) if fault == "ue_ident" else ())
            _store(ctx, tables, f"{n}_meta", idx, meta, (7, 9) if fault == "ue_meta" else ())
            got_slots.clear()
            ctx.set(rr.req.valid, 1)
            q = rr.req.payload
            ctx.set(q.type, t)
            ctx.set(q.index, idx)
            ctx.set(q.base, idx * w)
            ctx.set(q.slot, slot)
            ctx.set(q.with_meta, with_meta)
            ctx.set(q.ident, 0 if with_meta else ident)
            ctx.set(q.ident_ue, 0 if with_meta else int(fault == "ue_ident"))
            await ctx.tick().until(rr.req.ready)
            ctx.set(rr.req.valid, 0)
            ctx.set(rr.resp.ready, 1)
            for _ in range(40):
                await ctx.delay(1e-9)
                if ctx.get(rr.resp.valid):
                    break
                await ctx.tick()
            else:
                raise AssertionError("no response in 40 cycles")
            r = ctx.get(rr.resp.payload)
            await ctx.tick()
            ctx.set(rr.resp.ready, 0)
            data_ue = fault == "ue_data"
            ident_ue = fault == "ue_ident"
            crc_bad = fault == "crc"
            assert (r.data_ue, r.ident_ue, r.crc_bad) == (data_ue, ident_ue, crc_bad), (fault, t, idx)
            assert r.lost == (data_ue or ident_ue or crc_bad)
            if with_meta:
                assert r.meta_ue == (fault == "ue_meta")
                if fault != "ue_meta":
                    assert r.meta == meta
                if not ident_ue:
                    assert r.ident == ident
            else:
                assert r.meta_ue == 0
            assert r.word0 == words[0] or data_ue
            if w > 1:
                assert r.word1 == words[1]
            slot_words = got_slots.get(slot, {})
            assert sorted(slot_words) == list(range(w)), "every data word once, to the requested slot"
            for k in range(w):
                if not (data_ue and k == 0):
                    assert slot_words[k] == words[k], f"slot word {k}"

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_process(slot_monitor)
    sim.add_testbench(bench)
    sim.run()
