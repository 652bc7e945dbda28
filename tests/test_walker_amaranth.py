"""RequestWalker (rtl/walker.py) on the real state tables: request lists stored through
the back door (intact, broken by an unused or poisoned entry, cut by an unreadable one,
ending away from the tail), walked and released under random back-pressure; a Python
oracle written from the contract (pool layout, REQ_RECORD, DISPOSITIONS) says which
records come out, what the response says, and what the pool holds afterwards."""

import os
import random

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from chimney.contract import EngineParams, REQ_RECORD, pool_layout, word_code
from chimney.contract.checks import DISPOSITIONS
from chimney.rtl.eccmem import peek, poke
from chimney.rtl.tables import StateTables
from chimney.rtl.walker import RequestWalker

P = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
POOL = pool_layout(P)
CODE = word_code(P, "req_pool")
N = int(os.environ.get("WALK_N", 30))


def _seed():
    seed = int(os.environ.get("WALK_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (WALK_SEED={seed} repeats it)")
    return seed


def oracle(pool, lost, head, count, tail, abort):
    """(records, good, ok, quarantined entry or None) of a walk; `pool` maps entry ->
    unpacked fields, `lost` is the set of unreadable entries."""
    records, at = [], head
    for n in range(count):
        if at in lost:
            return records + [0] * (count - n), n, False, at
        e = pool[at]
        if not e["used"] or e["poisoned"]:
            return records + [0] * (count - n), n, False, None
        disp = int(DISPOSITIONS[(e["kind"], abort)])
        records.append(REQ_RECORD.pack(cookie=e["cookie"], length=e["length"], kind=e["kind"],
                                       disposition=disp))
        if n == count - 1:
            return records, count, at == tail, None
        at = e["next"]


def release_oracle(pool, lost, head, good):
    """Entries a release of `good` entries clears, in order (an unreadable one ends it)."""
    cleared, at = [], head
    for _ in range(good):
        if at in lost:
            break
        cleared.append(at)
        at = pool[at]["next"]
    return cleared


FAULTS = ("whole", "unused", "poisoned", "lost", "tail", "short")


def _case(rng, fault=None):
    """A pool with one list in it (and junk elsewhere) and how to walk it; `fault`: which
    class (random, "whole" twice as likely, when None)."""
    depth = P.n_req
    n = rng.randrange(1, 8)
    order = rng.sample(range(depth), n)
    pool = {}
    for i in range(depth):
        pool[i] = dict(used=rng.getrandbits(1), poisoned=0, cookie=rng.getrandbits(32),
                       length=rng.getrandbits(16), kind=rng.getrandbits(1), next=rng.randrange(depth))
    for k, at in enumerate(order):
        pool[at].update(used=1, poisoned=0, next=order[k + 1] if k + 1 < n else rng.randrange(depth))
    lost = set()
    fault = fault or rng.choice(("whole",) + FAULTS)
    count, tail = n, order[-1]
    hit = rng.randrange(n)
    if fault == "unused":
        pool[order[hit]]["used"] = 0
    elif fault == "poisoned":
        pool[order[hit]]["poisoned"] = 1
    elif fault == "lost":
        lost.add(order[hit])
    elif fault == "tail":
        tail = (tail + 1) % depth
    elif fault == "short":
        count = hit + 1                        # the count stops before the tail
    return pool, lost, order[0], count, tail, rng.getrandbits(1), fault


def test_walk_and_release_against_oracle():
    rng = random.Random(_seed())
    # every class at least once (a purely random draw missed one in about 1% of runs),
    # then random ones, shuffled so the classes meet each other's leftovers in any order
    cases = [_case(rng, f) for f in FAULTS] + [_case(rng) for _ in range(max(0, N - len(FAULTS)))]
    rng.shuffle(cases)
    tables = StateTables(P)
    walker = RequestWalker(P)
    top = Module()
    top.submodules.tables, top.submodules.walker = tables, walker
    wiring.connect(top, walker.tables, tables.engine)
    mem = tables.mems["req_pool"]
    lost_pulses = []
    reached = set()

    async def lost_monitor(ctx):
        async for _, _, pulse in ctx.tick().sample(walker.lost):
            if pulse:
                lost_pulses.append(1)

    async def command(ctx, release, head, count, tail, abort, rec_ready_p):
        """Send one request, collect records until the response; every wait bounded."""
        q = walker.req.payload
        ctx.set(q.release, release)
        ctx.set(q.head, head)
        ctx.set(q.count, count)
        ctx.set(q.tail, tail)
        ctx.set(q.abort, abort)
        ctx.set(walker.req.valid, 1)
        await ctx.tick().until(walker.req.ready)
        ctx.set(walker.req.valid, 0)
        records = []
        ctx.set(walker.resp.ready, 1)
        for _ in range(40 * (count + 2)):
            ready = rng.random() < rec_ready_p
            ctx.set(walker.rec.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(walker.rec.valid):
                records.append(ctx.get(walker.rec.payload))
            if ctx.get(walker.resp.valid):
                resp = (ctx.get(walker.resp.payload.good), ctx.get(walker.resp.payload.ok))
                await ctx.tick()
                ctx.set(walker.resp.ready, 0)
                ctx.set(walker.rec.ready, 0)
                return records, resp
            await ctx.tick()
        raise AssertionError("no response in time")

    async def bench(ctx):
        await ctx.tick().until(tables.ready)
        for pool, lost, head, count, tail, abort, fault in cases:
            for at, e in pool.items():
                word = CODE.encode(POOL.pack(**e))
                poke(ctx, mem, at, word ^ (0b11 << 5 if at in lost else 0))
            lost_pulses.clear()
            exp_rec, exp_good, exp_ok, quarantined = oracle(pool, lost, head, count, tail, abort)
            records, (good, ok) = await command(ctx, 0, head, count, tail, abort, rng.choice([1.0, 0.5, 0.2]))
            assert records == exp_rec, (fault, "records")
            assert (good, ok) == (exp_good, exp_ok), fault
            assert len(lost_pulses) == (quarantined is not None), fault
            if quarantined is not None:
                stored = CODE.decode(peek(ctx, mem, quarantined))[0]
                assert stored == POOL.pack(used=1, poisoned=1), "an unreadable entry is quarantined"
                lost.discard(quarantined)
                pool[quarantined] = dict(used=1, poisoned=1, cookie=0, length=0, kind=0, next=0)
            reached.add(fault)
            if good == 0:
                continue
            before = {at: peek(ctx, mem, at) for at in pool}
            _, (_, _) = await command(ctx, 1, head, good, 0, 0, 1.0)
            cleared = release_oracle(pool, lost, head, good)
            for at in pool:
                if at in cleared:
                    assert CODE.decode(peek(ctx, mem, at))[0] == 0, f"entry {at} released"
                else:
                    assert peek(ctx, mem, at) == before[at], f"entry {at} untouched by the release"

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_process(lost_monitor)
    sim.add_testbench(bench)
    sim.run()
    assert reached == set(FAULTS), reached
