"""Emitter (rtl/emitter.py) alone: random command mixes (status words, ring entries,
delegated state of every object type from random rows, request records, fences) under
random back-pressure on both DMA write channels and on the record stream. A Python
oracle written from the contract (`WRITE_BACK[t].image`, the NDIS bytes of a row) says
which write jobs and which data beats come out, in order; fences must wait for
`wr_idle`, and a row slot stays busy until its delegated bytes are sent."""

import os
import random

from amaranth.sim import Simulator

from chimney.contract import DATA, WRITE_BACK, EngineParams, ObjType
from chimney.rtl.emitter import ROW_SLOTS, SLOT_WORDS, EmitKind, Emitter

P = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
N = int(os.environ.get("EMIT_N", 60))
MASK64 = (1 << 64) - 1


def _seed():
    seed = int(os.environ.get("EMIT_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (EMIT_SEED={seed} repeats it)")
    return seed


def deleg_beats(obj_type, row):
    """The 8-byte beats of an object's write-back, from its data row (an int)."""
    wb = WRITE_BACK[obj_type]
    image = wb.image(DATA[obj_type].unpack(row))
    image += bytes(-len(image) % 8)
    return [int.from_bytes(image[i:i + 8], "little") for i in range(0, len(image), 8)]


def oracle(cmds):
    """(jobs, beats, fences) the emitter owes for `cmds`, in order."""
    jobs, beats, fences = [], [], 0
    for c in cmds:
        kind = c["kind"]
        if kind == EmitKind.WORD:
            jobs.append((c["addr"], 1, c["strb"], c["strb"]))
            beats.append(c["data"] & MASK64)
        elif kind == EmitKind.RING:
            jobs.append((c["addr"], 2, 0xFF, 0xFF))
            beats += [c["data"] & MASK64, c["data"] >> 64]
        elif kind == EmitKind.DELEG:
            b = deleg_beats(c["obj_type"], c["row"])
            if b:
                tail = WRITE_BACK[c["obj_type"]].nbytes % 8
                jobs.append((c["addr"], len(b), 0xFF, (1 << tail) - 1 if tail else 0xFF))
            beats += b
        elif kind == EmitKind.RECORDS:
            if c["records"]:
                jobs.append((c["addr"], len(c["records"]), 0xFF, 0xFF))
            beats += c["records"]
        else:
            fences += 1
    return jobs, beats, fences


def _commands(rng):
    cmds = []
    for _ in range(N):
        kind = rng.choice([EmitKind.WORD, EmitKind.RING, EmitKind.DELEG, EmitKind.DELEG,
                           EmitKind.RECORDS, EmitKind.FENCE])
        c = {"kind": kind, "addr": rng.getrandbits(P.addr_width) & ~7}
        if kind == EmitKind.WORD:
            c.update(data=rng.getrandbits(64), strb=rng.choice([0x0F, 0xF0, 0xFF]))
        elif kind == EmitKind.RING:
            c.update(data=rng.getrandbits(128))
        elif kind == EmitKind.DELEG:
            t = rng.choice([ObjType.TCP, ObjType.TCP, ObjType.NEIGHBOR, ObjType.PATH])
            c.update(obj_type=t, row=rng.getrandbits(64 * SLOT_WORDS) & ((1 << DATA[t].width) - 1))
        elif kind == EmitKind.RECORDS:
            c.update(records=[rng.getrandbits(64) for _ in range(rng.choice([0, 1, 3, 7]))])
        cmds.append(c)
    return cmds


def test_emitter_against_oracle():
    rng = random.Random(_seed())
    cmds = _commands(rng)
    exp_jobs, exp_beats, exp_fences = oracle(cmds)
    dut = Emitter(P)
    got = {"jobs": [], "beats": [], "fences": 0, "fence_early": 0}
    records = [r for c in cmds if c["kind"] == EmitKind.RECORDS for r in c["records"]]
    ready_p = {"req": rng.choice([1.0, 0.5, 0.2]), "data": rng.choice([1.0, 0.6, 0.3]),
               "rec": rng.choice([1.0, 0.5])}
    print("ready probabilities", ready_p)

    async def host(ctx):
        """The DMA side and the record source: random ready/valid, every handshake logged;
        wr_idle drops now and then, and a fence must wait it out."""
        rec_at = 0
        idle = 1
        while not got.get("done"):
            ctx.set(dut.wr_req.ready, rng.random() < ready_p["req"])
            ctx.set(dut.wr_data.ready, rng.random() < ready_p["data"])
            if rng.random() < 0.2:
                idle = 1 - idle
            ctx.set(dut.wr_idle, idle)
            have_rec = rec_at < len(records) and rng.random() < ready_p["rec"]
            ctx.set(dut.rec.valid, have_rec)
            if have_rec:
                ctx.set(dut.rec.payload, records[rec_at])
            await ctx.delay(1e-9)
            if ctx.get(dut.wr_req.valid) and ctx.get(dut.wr_req.ready):
                q = dut.wr_req.payload
                got["jobs"].append((ctx.get(q.addr), ctx.get(q.beats), ctx.get(q.first_strb),
                                    ctx.get(q.last_strb)))
            if ctx.get(dut.wr_data.valid) and ctx.get(dut.wr_data.ready):
                got["beats"].append(ctx.get(dut.wr_data.payload))
            if have_rec and ctx.get(dut.rec.ready):
                rec_at += 1
            if ctx.get(dut.fence_done):
                got["fences"] += 1
                got["fence_early"] += not idle
            await ctx.tick()

    async def engine(ctx):
        """The engine side: fill a free row slot, then queue the command."""
        busy_slots = set()
        for c in cmds:
            if c["kind"] == EmitKind.DELEG:
                for _ in range(2000):
                    busy = ctx.get(dut.slot_busy)
                    free = [s for s in range(ROW_SLOTS) if not busy >> s & 1]
                    if free:
                        break
                    await ctx.tick()
                else:
                    raise AssertionError("no row slot freed in time")
                slot = rng.choice(free)
                for w in range(SLOT_WORDS):
                    ctx.set(dut.slot_we, 1)
                    ctx.set(dut.slot_sel, slot)
                    ctx.set(dut.slot_word, w)
                    ctx.set(dut.slot_data, (c["row"] >> (64 * w)) & MASK64)
                    await ctx.tick()
                ctx.set(dut.slot_we, 0)
                c["slot"] = slot
            p = dut.cmd.payload
            ctx.set(p.kind, c["kind"])
            ctx.set(p.addr, c["addr"])
            ctx.set(p.data, c.get("data", 0))
            ctx.set(p.strb, c.get("strb", 0))
            ctx.set(p.count, len(c.get("records", [])))
            ctx.set(p.obj_type, c.get("obj_type", 0))
            ctx.set(p.slot, c.get("slot", 0))
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick().until(dut.cmd.ready)
            ctx.set(dut.cmd.valid, 0)
            if c["kind"] == EmitKind.DELEG:
                # the slot is busy from the cycle the command is taken until it is sent
                assert ctx.get(dut.slot_busy) >> c["slot"] & 1 or WRITE_BACK[c["obj_type"]].nbytes == 0
            if rng.random() < 0.3:
                await ctx.tick().repeat(rng.randrange(1, 20))
        for _ in range(20000):
            if ctx.get(dut.idle) and len(got["beats"]) == len(exp_beats):
                break
            await ctx.tick()
        else:
            raise AssertionError(f"emitter not idle in time: {len(got['beats'])} of {len(exp_beats)} beats")
        await ctx.tick().repeat(4)
        got["done"] = True

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(engine)
    sim.run()
    assert got["jobs"] == exp_jobs
    assert got["beats"] == exp_beats
    assert got["fences"] == exp_fences and got["fence_early"] == 0, got
