"""BurstSplitter (rtl/dma.py) alone in Amaranth's simulator against the cut it must make:
bursts of min(beats left, max_burst, beats to the 4 KiB boundary), in order, one per cycle
when the consumer is always ready. Random requests start near 4 KiB boundaries; the
consumer stalls at random. Seed printed; override with CHIMNEY_SEED."""

import os
import random

import pytest
from amaranth.sim import Simulator

from chimney.rtl.dma import BurstSplitter

SEED = int(os.environ.get("CHIMNEY_SEED", "4242"))


def reference(requests, max_burst):
    """The bursts (addr, len, first, last, tag) of the requests, as the original one-cycle splitter cut them."""
    out = []
    for addr, beats, tag in requests:
        first = True
        while beats:
            cap = min(512 - (addr >> 3 & 511), max_burst)
            n = min(beats, cap)
            out.append((addr, n - 1, int(first), int(beats <= cap), tag))
            addr = (addr + (n << 3)) & ((1 << 64) - 1)
            beats -= n
            first = False
    return out


def run_splitter(requests, max_burst, stall, rng, max_cycles):
    dut = BurstSplitter(64, max_burst, tag_width=16)
    got, cycles = [], []

    async def source(ctx):
        for addr, beats, tag in requests:
            ctx.set(dut.req.payload.addr, addr)
            ctx.set(dut.req.payload.beats, beats)
            ctx.set(dut.req.payload.tag, tag)
            ctx.set(dut.req.valid, 1)
            await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)

    async def sink(ctx):
        cycle = 0
        while len(got) < len(expect):
            cycle += 1
            assert cycle < max_cycles, f"stuck after {len(got)} of {len(expect)} bursts"
            ready = int(rng.random() >= stall)
            ctx.set(dut.burst.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.burst.valid):
                p = dut.burst.payload
                got.append((ctx.get(p.addr), ctx.get(p.len), ctx.get(p.first), ctx.get(p.last), ctx.get(p.tag)))
                cycles.append(cycle)
            await ctx.tick()

    expect = reference(requests, max_burst)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return got, expect, cycles


def random_requests(rng, n):
    reqs = []
    for i in range(n):
        page = rng.getrandbits(52) << 12
        near = rng.choice([0, 8, 4096 - 8 * rng.randrange(1, 40), 8 * rng.randrange(512)])
        addr = (page + near) & ((1 << 64) - 8)
        if rng.random() < 0.05:
            addr = (1 << 64) - 8 * rng.randrange(1, 600)       # wraps at the top of the address space
        beats = rng.choice([0, 1, 1, 2, 15, 16, 17, rng.randrange(1, 600), rng.randrange(1, 1 << 16)])
        reqs.append((addr, beats, rng.getrandbits(16)))
    return reqs


@pytest.mark.parametrize("max_burst", [1, 7, 16, 256])
def test_cuts_match_the_reference(max_burst):
    rng = random.Random(f"{SEED}:{max_burst}")
    reqs = random_requests(rng, 60)
    expect_n = len(reference(reqs, max_burst))
    if expect_n > 3000:                    # keep the run short: drop the longest requests
        reqs = [r for r in reqs if r[1] < 2000]
    got, expect, _ = run_splitter(reqs, max_burst, 0.3, rng, 20 * len(reference(reqs, max_burst)) + 100)
    assert got == expect


def test_one_burst_per_cycle_with_single_beat_requests():
    rng = random.Random(SEED)
    reqs = [(0x1000 * i + 0xFF8, 1, i) for i in range(20)] + [(0x2FF0, 40, 99), (0x3000, 1, 7)]
    got, expect, cycles = run_splitter(reqs, 16, 0.0, rng, 500)
    assert got == expect
    assert cycles[-1] - cycles[0] == len(expect) - 1, "a bubble between bursts"
