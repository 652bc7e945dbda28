"""RingWriter (rtl/ringwriter.py) against a Python oracle of the two host rings: the emit
commands it issues (FENCE / RING, addresses, packed entries with phase and seq), when it
publishes, waits for room and counts commands; random emitter back-pressure."""

import os
import random

import pytest
from amaranth.sim import Simulator

from chimney.contract import (COMPLETION, EVENT, EngineParams, TcpEventType, TcpUploadReason)
from chimney.rtl.emitter import EmitKind, emit_layout
from chimney.rtl.ringwriter import RingJob, RingWriter

P = EngineParams()
LAY = emit_layout(P.addr_width)
CPL_BASE, EVT_BASE = 0x10000, 0x20000


def _seed():
    seed = int(os.environ.get("RING_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (RING_SEED={seed} repeats it)")
    return seed


class Oracle:
    """What the writer must emit, in order, for each job (the contract's ring rules)."""

    def __init__(self, log2):
        self.size = 1 << log2
        self.log2 = log2
        self.cpl_next = self.evt_next = self.seq = self.count = 0
        self.cpl_prod = self.evt_prod = 0
        self.pending = False

    def entry_addr(self, base, index):
        return base + 16 * (index % self.size)

    def phase(self, index):
        return 1 - ((index >> self.log2) & 1)

    def job(self, j):
        out = []
        if j["job"] == RingJob.COMPLETE:
            c = COMPLETION.pack(status=j["status"], result=j["result"], tag=j["tag"], err_index=j["err_index"],
                                seq=j["seq"], detail=j["detail"], phase=self.phase(self.cpl_next),
                                opcode=j["opcode"] & 0xF)
            out += [("FENCE",), ("RING", self.entry_addr(CPL_BASE, self.cpl_next), c), ("FENCE",)]
            self.cpl_next += 1
            self.cpl_prod, self.evt_prod = self.cpl_next, self.evt_next
            self.count += 1
            self.pending = False
        elif j["job"] == RingJob.EVENTS:
            for typ, info in ((TcpEventType.RETRIEVE, int(TcpUploadReason.HARDWARE_FAILURE)),
                              (TcpEventType.ABORT, 0)):
                v = EVENT.pack(handle=j["handle"], host_handle=j["host_handle"], info=info, seq=self.seq,
                               type=int(typ), phase=self.phase(self.evt_next))
                out.append(("RING", self.entry_addr(EVT_BASE, self.evt_next), v))
                self.evt_next += 1
                self.seq += 1
            self.pending = True
        else:
            if self.pending:
                out.append(("FENCE",))
                self.evt_prod = self.evt_next
                self.pending = False
        return out


@pytest.mark.parametrize("log2", [1, 3])
def test_ring_writer_against_oracle(log2):
    rng = random.Random(_seed())
    dut = RingWriter(P)
    oracle = Oracle(log2)
    jobs = []
    unpublished = 0                 # event pairs the host cannot consume yet
    for _ in range(60):
        kind = rng.choice([RingJob.COMPLETE, RingJob.COMPLETE, RingJob.EVENTS, RingJob.PUBLISH])
        if kind == RingJob.EVENTS and 2 * (unpublished + 1) > (1 << log2):
            kind = RingJob.PUBLISH  # the ring would fill with entries nobody may consume
        unpublished = unpublished + 1 if kind == RingJob.EVENTS else 0
        jobs.append(dict(job=kind, status=rng.getrandbits(32), result=rng.getrandbits(32),
                         tag=rng.getrandbits(16), err_index=rng.getrandbits(16), seq=rng.getrandbits(16),
                         detail=rng.getrandbits(8), opcode=rng.getrandbits(4),
                         handle=rng.getrandbits(32), host_handle=rng.getrandbits(32)))
    emitted = []
    state = {"fence": 0, "done": False, "cycles": 0}

    async def emitter(ctx):
        """Accepts emits with random ready; answers a FENCE a few cycles later; the host
        consumes ring entries at random."""
        cpl_cons = evt_cons = 0
        written = {CPL_BASE: 0, EVT_BASE: 0}      # entries written per ring
        while not state["done"]:
            state["cycles"] += 1
            assert state["cycles"] < 40000, "timed out"
            ready = rng.random() < 0.6
            ctx.set(dut.emit.ready, ready)
            ctx.set(dut.fence_done, state["fence"] == 1)
            if rng.random() < 0.2:
                cpl_cons = min(cpl_cons + 1, ctx.get(dut.cplq_prod))
                evt_cons = min(evt_cons + 1, ctx.get(dut.evtq_prod))
            ctx.set(dut.cplq_cons, cpl_cons)
            ctx.set(dut.evtq_cons, evt_cons)
            await ctx.delay(1e-9)
            if state["fence"]:
                state["fence"] -= 1
            if ready and ctx.get(dut.emit.valid):
                e = ctx.get(dut.emit.payload)
                if e.kind == EmitKind.FENCE:
                    emitted.append(("FENCE",))
                    state["fence"] = rng.randint(1, 4)
                else:
                    assert e.kind == EmitKind.RING
                    emitted.append(("RING", e.addr, e.data))
                    base = CPL_BASE if e.addr < EVT_BASE else EVT_BASE
                    cons = cpl_cons if base == CPL_BASE else evt_cons
                    assert written[base] - cons < (1 << log2), "overwrote an entry the host had not consumed"
                    written[base] += 1
            await ctx.tick()

    async def host(ctx):
        ctx.set(dut.cplq_base, CPL_BASE)
        ctx.set(dut.evtq_base, EVT_BASE)
        ctx.set(dut.cplq_log2, log2)
        ctx.set(dut.evtq_log2, log2)
        await ctx.tick().repeat(3)
        for j in jobs:
            before = len(emitted)
            want = oracle.job(j)
            ctx.set(dut.req.valid, 1)
            for name, value in j.items():
                ctx.set(getattr(dut.req.payload, name), value)
            cpl_irq = evt_irq = 0
            while True:
                await ctx.delay(1e-9)
                cpl_irq += ctx.get(dut.irq_cpl)
                evt_irq += ctx.get(dut.irq_evt)
                if ctx.get(dut.req.ready):
                    break
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.req.valid, 0)
            assert emitted[before:] == want, (j["job"], emitted[before:], want)
            assert ctx.get(dut.cplq_prod) == oracle.cpl_prod & 0xFFFF
            assert ctx.get(dut.evtq_prod) == oracle.evt_prod & 0xFFFF
            assert ctx.get(dut.cmd_count) == oracle.count
            assert ctx.get(dut.seq) == oracle.seq & 0xFFFF
            assert cpl_irq == (j["job"] == RingJob.COMPLETE)
            await ctx.tick()
        state["done"] = True

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(emitter)
    sim.add_testbench(host)
    sim.run()
    assert oracle.cpl_next > oracle.size and oracle.evt_next > oracle.size, "the rings never wrapped"


def test_halted_writes_nothing_and_finishes():
    dut = RingWriter(P)

    async def bench(ctx):
        ctx.set(dut.cplq_log2, 2)
        ctx.set(dut.evtq_log2, 2)
        ctx.set(dut.halted, 1)
        ctx.set(dut.emit.ready, 1)
        for job in (RingJob.EVENTS, RingJob.COMPLETE):
            ctx.set(dut.req.valid, 1)
            ctx.set(dut.req.payload.job, job)
            for _ in range(20):
                await ctx.delay(1e-9)
                if job == RingJob.COMPLETE and ctx.get(dut.emit.valid):
                    ctx.set(dut.fence_done, 1)          # the first fence of COMPLETE is owed
                assert not (job == RingJob.EVENTS and ctx.get(dut.emit.valid))
                if ctx.get(dut.req.ready):
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"{job} did not finish while halted")
            await ctx.tick()
            ctx.set(dut.req.valid, 0)
            ctx.set(dut.fence_done, 0)
        assert ctx.get(dut.cmd_count) == 0 and ctx.get(dut.cplq_prod) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
