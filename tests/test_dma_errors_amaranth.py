"""DMA read errors at every read a command makes, under random back-pressure on all
five AXI channels, each followed by checked healthy commands (tests/scenarios/dma_errors.py).

Each run prints its seed; CHIMNEY_SEED=<n> reruns one, CHIMNEY_SEED=random draws a new one.
The seed picks the fault ranges, their order and the AXI model's stalls and latency.
"""

import random

import pytest

from chimney.contract import EngineParams
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from scenarios import dma_errors
from scenarios.diff import seed_from_env
from scenarios.raw import RawRings

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)
RUNS = range(3)                       # seed offsets: one simulation each


class AxiFaults:
    """`faults` for the scenarios: read error ranges of the Amaranth AXI model."""

    def __init__(self, axi):
        self.axi = axi

    def fail(self, lo, hi, resp):
        self.axi.errors.append((lo, hi, resp))

    def clear(self):
        self.axi.errors.clear()


def _bench(name, seed):
    async def bench(ctx, dut, device, memory, axi):
        regs = Registers(device, SMALL)
        rings = RawRings(regs, memory)
        await rings.start()
        await dma_errors.ALL[name](rings, regs, memory, SMALL, AxiFaults(axi), seed)
    return bench


def back_pressure(seed):
    """Stall probability per channel and latencies, drawn from the seed. R stalls often:
    a list read error races the list's last beat only while R beats trickle in."""
    rng = random.Random(seed ^ 0x5EED)
    pause = {ch: rng.choice([0.0, 0.2, 0.4]) for ch in ("aw", "w", "b", "ar")}
    pause["r"] = rng.choice([0.5, 0.6, 0.7, 0.8])
    return dict(pause=pause, read_latency=rng.randrange(0, 7), b_latency=rng.randrange(0, 4))


@pytest.mark.slow
@pytest.mark.parametrize("offset", RUNS, ids=[f"run{o}" for o in RUNS])
@pytest.mark.parametrize("name", sorted(dma_errors.ALL))
def test_dma_read_errors(name, offset):
    base = seed_from_env(1101)
    seed = base + offset
    bp = back_pressure(seed)
    print(f"{name}: CHIMNEY_SEED={base} (this run uses seed {seed}; back-pressure {bp})")
    axi = run_engine(SMALL, _bench(name, seed), until_s=60e-3, seed=seed, **bp)
    assert axi.violations == []


# ---- the list collector alone: the race behind issue 11, cycle by cycle -----------------
def _collector_run(body):
    from amaranth.sim import Simulator
    from chimney.rtl.collector import ReadCollector
    col = ReadCollector()
    sim = Simulator(col)
    sim.add_clock(10e-9)

    async def bench(ctx):
        await body(ctx, col)
    sim.add_testbench(bench)
    sim.run_until(20e-6)          # a bound: every body finishes in a few hundred cycles


async def _start_list(ctx, col):
    ctx.set(col.list_mode, 1)
    ctx.set(col.start, 1)
    await ctx.tick()
    ctx.set(col.start, 0)


async def _beat(ctx, col, data, last=0, err=0, limit=50):
    """Offer one beat until the collector takes it (the edge that takes it is awaited)."""
    ctx.set(col.beats.payload, {"data": data, "last": last, "err": err})
    ctx.set(col.beats.valid, 1)
    for _ in range(limit):
        if ctx.get(col.beats.ready):
            await ctx.tick()
            ctx.set(col.beats.valid, 0)
            return
        await ctx.tick()
    raise AssertionError(f"beat {data:#x} not taken in {limit} cycles")


async def _entry(ctx, col, words, *, last, err_at=None):
    for i, w in enumerate(words):
        await _beat(ctx, col, w, last=int(last and i == 3), err=int(i == err_at))


async def _until(ctx, signal, limit=20):
    for _ in range(limit):
        if ctx.get(signal):
            return
        await ctx.tick()
    raise AssertionError(f"{signal} not set in {limit} cycles")


async def _first_entry_of_new_list(ctx, col, marker):
    """A new one-entry list: the first entry out must be that one, healthy."""
    await _start_list(ctx, col)
    assert not ctx.get(col.done), "done right after start"
    await _entry(ctx, col, [marker + i for i in range(4)], last=True)
    await _until(ctx, col.entry.valid)
    raw, err = ctx.get(col.entry.payload.raw), ctx.get(col.entry.payload.err)
    assert (raw & 0xFFFF_FFFF_FFFF_FFFF, err) == (marker, 0), \
        f"first entry of the new list is {raw & 0xFFFF_FFFF_FFFF_FFFF:#x} err={err}: left over from the last list"


def test_collector_idle_only_when_its_fifo_is_empty():
    """Entry A fails and is taken in the very cycle the list's last beat (entry B) is
    written: the buffered FIFO shows B two cycles later. `done` must wait for B to be
    drained, so nothing of this list reaches the next one."""
    async def body(ctx, col):
        await _start_list(ctx, col)
        await _entry(ctx, col, [0xA0, 0xA1, 0xA2, 0xA3], last=False, err_at=0)
        await _until(ctx, col.entry.valid)
        await _entry(ctx, col, [0xB0, 0xB1, 0xB2], last=False)
        ctx.set(col.beats.payload, {"data": 0xB3, "last": 1, "err": 0})
        ctx.set(col.beats.valid, 1)
        ctx.set(col.entry.ready, 1)                   # L_NEXT takes A as B's last beat goes in
        assert ctx.get(col.beats.ready) and ctx.get(col.entry.payload.err)
        await ctx.tick()
        ctx.set(col.beats.valid, 0)
        ctx.set(col.drain, 1)                         # L_DRAIN: drop entries until done
        dropped = 0
        for _ in range(10):
            if ctx.get(col.done):
                break
            dropped += ctx.get(col.entry.valid)
            await ctx.tick()
        assert ctx.get(col.done) and dropped == 1, f"done with {1 - dropped} entry left in the FIFO"
        ctx.set(col.drain, 0)
        ctx.set(col.entry.ready, 0)
        await _first_entry_of_new_list(ctx, col, 0xC0)
    _collector_run(body)


def test_collector_start_discards_what_an_earlier_request_left():
    """An entry nobody took: the next request's `start` drops it."""
    async def body(ctx, col):
        await _start_list(ctx, col)
        await _entry(ctx, col, [0xD0, 0xD1, 0xD2, 0xD3], last=True, err_at=2)
        await _until(ctx, col.entry.valid)
        await _first_entry_of_new_list(ctx, col, 0xE0)
    _collector_run(body)
