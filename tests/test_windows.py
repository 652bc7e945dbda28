"""DMA address windows (chimney.contract.windows, rtl/windows.py): the window test against
a byte-by-byte oracle; the EntryWindows stage under random valid/ready, each bit checked
against that oracle; the AXI monitor's window rule. Random tests print their seed
(WINDOWS_SEED=<n> repeats one)."""

import os
import random

import pytest
from amaranth.sim import Simulator

from chimney.contract import EngineParams, ObjType, LIST_ENTRY, WRITE_BACK, make_handle
from chimney.contract.windows import (inside, in_any, reset_windows, STATUS_SPAN, state_span, req_span,
                                      ADDR_MAX, EMPTY)
from chimney.rtl.windows import EntryWindows
from chimney.tb.axi_monitor import Axi4ManagerMonitor, ProtocolViolation

M64 = (1 << 64) - 1


def _seed():
    seed = int(os.environ.get("WINDOWS_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (WINDOWS_SEED={seed} repeats it)")
    return seed


def oracle(addr, nbytes, windows):
    """Some window holds every byte [addr, addr + nbytes), none past 2^64 (byte by byte)."""
    last = addr + nbytes - 1
    return last <= M64 and any(all(b <= x <= l for x in (addr, last)) and b <= l for b, l in windows)


def test_spans_follow_the_layouts():
    # independent of the module's formulas: what the engine writes at each address
    assert STATUS_SPAN == 4
    assert state_span(ObjType.TCP) == WRITE_BACK[ObjType.TCP].end == 124     # ndischimney.h, x64
    assert state_span(ObjType.PATH) == 0                                     # a path writes none
    assert req_span(0) == 8 and req_span(3) == 32                           # header + 8-byte records
    assert reset_windows(3) == [(0, M64), EMPTY, EMPTY]
    assert EMPTY[0] > EMPTY[1]


def test_inside_matches_the_byte_oracle():
    rng = random.Random(_seed())
    edge = [0, 1, 7, 8, 0xFFF, 0x1000, M64 - 8, M64 - 7, M64]
    for _ in range(4000):
        wins = [(rng.choice(edge + [rng.getrandbits(64), rng.getrandbits(13)]),
                 rng.choice(edge + [rng.getrandbits(64), rng.getrandbits(13)])) for _ in range(2)]
        addr = rng.choice(edge + [rng.getrandbits(64), rng.getrandbits(13)] + [b for b, _ in wins] + [l for _, l in wins])
        addr = max(0, min(M64, addr + rng.choice((-8, -1, 0, 1))))
        nbytes = rng.choice((1, 4, 8, 12, 124, 4096, rng.randrange(1, 1 << 20)))
        assert bool(in_any(addr, nbytes, wins)) == oracle(addr, nbytes, wins), (hex(addr), nbytes, wins)
    # the last byte decides; an access running past 2^64 is outside even window 0
    assert inside(0x1000, 8, 0x1000, 0x1007) and not inside(0x1000, 9, 0x1000, 0x1007)
    assert not inside(0xFFF, 8, 0x1000, 0x1FFF)
    assert not in_any(M64 - 3, 8, reset_windows(1)) and in_any(M64 - 7, 8, reset_windows(1))


def _entry(rng, windows):
    """A list entry whose addresses sit near a window's edges."""
    t = rng.choice(list(ObjType))
    edges = [x for b, l in windows for x in (b, l + 1)] + [rng.getrandbits(64)]

    def near():
        return max(0, min(M64, rng.choice(edges) + rng.randrange(-160, 40)) & ~3)
    return dict(handle=make_handle(t, rng.randrange(16), rng.randrange(256)), parent=rng.randrange(1 << 16),
                req_cap=rng.choice((0, 1, 5, (1 << 15) - 1, rng.randrange(1 << 15))), detached=rng.randrange(2),
                state_addr=near(), status_addr=near(), req_addr=near())


@pytest.mark.parametrize("p_valid,p_ready", [(1.0, 1.0), (0.6, 0.5)])
def test_entry_windows_stage(p_valid, p_ready):
    rng = random.Random(_seed())
    params = EngineParams(n_windows=3)
    dut = EntryWindows(params)
    wins = [(0x10000, 0x1FFFF), (0xFFFF_0000_0000_0000, M64), EMPTY]
    entries = [_entry(rng, wins) for _ in range(300)]
    got = []
    cycles = {"n": 0}

    async def source(ctx):
        for i, (b, l) in enumerate(wins):
            ctx.set(dut.windows[i].base, b)
            ctx.set(dut.windows[i].limit, l)
        k = 0
        while k < len(entries):
            want = rng.random() < p_valid
            ctx.set(dut.i.valid, want)
            ctx.set(dut.i.payload.raw, int.from_bytes(LIST_ENTRY.to_bytes(entries[k]), "little"))
            ctx.set(dut.i.payload.err, k & 1)
            await ctx.delay(1e-9)
            took = want and ctx.get(dut.i.ready)
            await ctx.tick()
            if took:
                k += 1
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        while len(got) < len(entries):
            assert cycles["n"] < 20 * len(entries), "timed out"
            ready = rng.random() < p_ready
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o.valid):
                o = dut.o.payload
                got.append((ctx.get(o.raw), ctx.get(o.err), ctx.get(o.status_win), ctx.get(o.state_win),
                            ctx.get(o.req_win)))
            await ctx.tick()
            cycles["n"] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    seen = {"status": 0, "state": 0, "req": 0}
    for k, (e, (raw, err, st, sd, rq)) in enumerate(zip(entries, got)):
        assert raw == int.from_bytes(LIST_ENTRY.to_bytes(e), "little") and err == k & 1, k
        t = ObjType(e["handle"] >> 24 & 3)
        span = WRITE_BACK[ObjType.TCP if t == ObjType.TCP else ObjType.NEIGHBOR].end
        want = (oracle(e["status_addr"], 4, wins), oracle(e["state_addr"], span, wins),
                oracle(e["req_addr"], 8 + 8 * e["req_cap"], wins))
        assert (st, sd, rq) == want, (k, e)
        for name, bit in zip(seen, (st, sd, rq)):
            seen[name] += bit
    # both answers were reached for every bit (not vacuous)
    assert all(0 < n < len(entries) for n in seen.values()), seen


def test_monitor_fails_a_burst_outside_the_windows():
    idle = {n: 0 for n in Axi4ManagerMonitor.SIGNALS}
    idle.update(awsize=3, arsize=3, awburst=1, arburst=1, fatal=0)
    raw = 0x1000 | 0x1FBF << 64 | (ADDR_MAX & ~7) << 128 | 7 << 192   # [0x1000, 0x1FBF], empty
    ok = Axi4ManagerMonitor(16, n_windows=2)
    for s in ({"arvalid": 1, "araddr": 0x1F40, "arlen": 7, "arready": 1, "windows": raw},):
        ok.step({**idle, **s})
    assert ok.violations == []
    bad = Axi4ManagerMonitor(16, n_windows=2)
    with pytest.raises(ProtocolViolation) as e:
        bad.step({**idle, "awvalid": 1, "awaddr": 0x1F80, "awlen": 15, "windows": raw})   # ends 0x1FFF
    assert e.value.rule == "inside the DMA windows" and e.value.channel == "AW"
