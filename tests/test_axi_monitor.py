"""The AXI protocol monitors (chimney.tb.axi_monitor) fail at the first violation, with
rule, channel and cycle: each is fed legal traces and violating ones."""

import pytest

from chimney.tb.axi_monitor import AxiLiteMonitor, Axi4ManagerMonitor, ProtocolViolation

LITE_IDLE = {n: 0 for n in AxiLiteMonitor.SIGNALS}
AXI_IDLE = {n: 0 for n in Axi4ManagerMonitor.SIGNALS}
AXI_IDLE.update(awsize=3, arsize=3, awburst=1, arburst=1, fatal=0)


def feed(monitor, idle, cycles):
    """Each cycle: a dict of the signals that differ from idle."""
    for c in cycles:
        monitor.step({**idle, **c})
    return monitor


def violation(monitor, idle, cycles):
    with pytest.raises(ProtocolViolation) as e:
        feed(monitor, idle, cycles)
    return e.value


# ------------------------------------------------------------------- AXI4-Lite (CSR)
WRITE_OK = [
    {"awvalid": 1, "awaddr": 0x1C},                                     # AW first
    {"awvalid": 1, "awaddr": 0x1C, "wvalid": 1, "wdata": 5, "wstrb": 0xF, "awready": 1, "wready": 1},
    {"bready": 1},
    {"bvalid": 1, "bready": 1},
]
READ_OK = [{"arvalid": 1, "araddr": 0x0, "arready": 1}, {"rvalid": 1, "rdata": 7}, {"rvalid": 1, "rdata": 7, "rready": 1}]


def test_lite_legal_traces_pass():
    m = feed(AxiLiteMonitor(), LITE_IDLE, WRITE_OK + READ_OK + WRITE_OK)
    assert m.violations == [] and m.handshakes["b"] == 2 and m.handshakes["r"] == 1


@pytest.mark.parametrize("case, trace, rule, channel, cycle", [
    ("bvalid dropped", WRITE_OK[:2] + [{"bvalid": 1}, {}], "VALID held until READY", "B", 4),
    ("bresp changed", WRITE_OK[:2] + [{"bvalid": 1, "bresp": 0}, {"bvalid": 1, "bresp": 2}],
     "payload stable while VALID and not READY", "B", 4),
    ("B without a write", [{"bvalid": 1}], "one B per accepted write, after both AW and W", "B", 1),
    ("B after AW only", [{"awvalid": 1, "awready": 1}, {"bvalid": 1}],
     "one B per accepted write, after both AW and W", "B", 2),
    ("two B for one write", WRITE_OK + [{"bvalid": 1, "bready": 1}],
     "one B per accepted write, after both AW and W", "B", 5),
    ("R without AR", [{"rvalid": 1}], "one R per accepted AR", "R", 1),
    ("EXOKAY", READ_OK[:1] + [{"rvalid": 1, "rresp": 1, "rready": 1}], "RESP legal on AXI4-Lite", "R", 2),
    ("rdata changed", READ_OK[:2] + [{"rvalid": 1, "rdata": 8}], "payload stable while VALID and not READY", "R", 3),
    ("manager drops AWVALID", [{"awvalid": 1}, {}], "VALID held until READY", "AW", 2),
    ("manager changes WDATA", [{"wvalid": 1, "wdata": 1}, {"wvalid": 1, "wdata": 2}],
     "payload stable while VALID and not READY", "W", 2),
])
def test_lite_violations(case, trace, rule, channel, cycle):
    v = violation(AxiLiteMonitor(), LITE_IDLE, trace)
    assert (v.rule, v.channel, v.cycle) == (rule, channel, cycle), str(v)
    assert v.port == "csr" and f"cycle {cycle}" in str(v) and channel in str(v)


def test_lite_reset_clears_bookkeeping():
    m = AxiLiteMonitor()
    feed(m, LITE_IDLE, WRITE_OK[:2] + [{"rst": 1}])
    with pytest.raises(ProtocolViolation):
        feed(m, LITE_IDLE, [{"bvalid": 1}])          # the write before reset is owed nothing


# -------------------------------------------------------------------------- AXI4 (DMA)
def aw(addr, ln, ready=1):
    return {"awvalid": 1, "awaddr": addr, "awlen": ln, "awready": ready}


def w(strb=0xFF, last=0, ready=1, data=0):
    return {"wvalid": 1, "wstrb": strb, "wlast": last, "wready": ready, "wdata": data}


WRITE2 = [aw(0x1000, 1), w(), w(last=1), {"bvalid": 1, "bready": 1}]
W_FIRST = [w(), w(last=1), aw(0x2000, 1), {"bvalid": 1, "bready": 1}]
READ2 = [{"arvalid": 1, "araddr": 0x3000, "arlen": 1, "arready": 1}, {"rvalid": 1, "rready": 1},
         {"rvalid": 1, "rready": 1, "rlast": 1}]


def test_axi_legal_traces_pass():
    m = feed(Axi4ManagerMonitor(max_burst=16), AXI_IDLE, WRITE2 + W_FIRST + READ2)
    assert m.violations == [] and m.handshakes["b"] == 2 and m.handshakes["r"] == 2


def test_axi_narrow_lanes_pass():
    # 128-bit bus, burst at 0x1008: beat 0 in lane 1, beat 1 in lane 0
    m = feed(Axi4ManagerMonitor(16, 128), AXI_IDLE,
             [aw(0x1008, 1), w(strb=0xFF << 8), w(strb=0xFF, last=1), {"bvalid": 1, "bready": 1}])
    assert m.violations == []


def test_axi_abandonment_at_fatal_is_allowed_and_then_nothing():
    m = feed(Axi4ManagerMonitor(16), AXI_IDLE, [aw(0x1000, 0, ready=0), {"fatal": 1}, {"fatal": 1}])
    assert m.violations == []
    v = violation(m, AXI_IDLE, [{"fatal": 1, "arvalid": 1}])
    assert (v.rule, v.channel) == ("no VALID after the fatal error", "AR")


@pytest.mark.parametrize("case, width, trace, rule, channel, cycle", [
    ("AWVALID dropped", 64, [aw(0x1000, 0, ready=0), {}], "VALID held until READY", "AW", 2),
    ("AWADDR changed", 64, [aw(0x1000, 0, ready=0), aw(0x1008, 0, ready=0)],
     "payload stable while VALID and not READY", "AW", 2),
    ("WDATA changed", 64, [w(ready=0, data=1), w(ready=0, data=2)], "payload stable while VALID and not READY", "W", 2),
    ("burst too long", 64, [aw(0x1000, 16)], "AxLEN + 1 <= max_burst", "AW", 1),
    ("4 KiB crossing", 64, [{"arvalid": 1, "araddr": 0x1FF8, "arlen": 1}], "no burst across a 4 KiB boundary", "AR", 1),
    ("WRAP burst", 64, [{"arvalid": 1, "araddr": 0x1000, "arburst": 2}], "AxBURST INCR", "AR", 1),
    ("WLAST early", 64, [aw(0x1000, 1), w(last=1)], "WLAST exactly on the last beat of the burst", "W", 2),
    ("WLAST missing", 64, [aw(0x1000, 1), w(), w()], "WLAST exactly on the last beat of the burst", "W", 3),
    ("W ahead, wrong count", 64, [w(last=1), aw(0x1000, 1)], "WLAST exactly on the last beat of the burst", "W", 2),
    ("WSTRB in the wrong lane", 128, [aw(0x1000, 0), w(strb=0xFF << 8, last=1)],
     "WSTRB only in the byte lanes of the beat's address", "W", 2),
    ("R without AR", 64, [{"rvalid": 1}], "R only for an accepted AR", "R", 1),
    ("RLAST wrong", 64, READ2[:1] + [{"rvalid": 1, "rready": 1, "rlast": 1}],
     "RLAST exactly on the last beat of the burst", "R", 2),
    ("B before the last W", 64, [aw(0x1000, 1), w(), {"bvalid": 1}], "B only after the burst's AW and last W beat", "B", 3),
])
def test_axi_violations(case, width, trace, rule, channel, cycle):
    v = violation(Axi4ManagerMonitor(16, width), AXI_IDLE, trace)
    assert (v.rule, v.channel, v.cycle) == (rule, channel, cycle), str(v)
    assert v.port == "dma" and f"cycle {cycle}" in str(v)


def test_amaranth_sim_run_fails_at_the_violation():
    """In a simulation the monitor ends the run: a bus whose AR drops VALID before READY."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator
    from chimney.rtl.axi import AxiSignature
    from chimney.tb.amaranth_axi import AxiMemoryModel

    bus = AxiSignature(32, 64).flip().create()      # the manager's side, driven by the testbench
    m = Module()
    tick = Signal()
    m.d.sync += tick.eq(~tick)
    model = AxiMemoryModel(bus, pause={"ar": 1.0})   # never ready on AR
    sim = Simulator(m)
    sim.add_clock(1e-8)
    model.add_to(sim)

    async def bench(ctx):
        ctx.set(bus.arsize, 3)
        ctx.set(bus.arburst, 1)
        ctx.set(bus.araddr, 0x1000)
        ctx.set(bus.arvalid, 1)
        for _ in range(3):
            await ctx.tick()
        ctx.set(bus.arvalid, 0)                       # dropped without a handshake
        for _ in range(3):
            await ctx.tick()
    sim.add_testbench(bench)
    with pytest.raises(ProtocolViolation) as e:
        sim.run()
    assert (e.value.rule, e.value.channel, e.value.port) == ("VALID held until READY", "AR", "dma")


# ------------------------------------------------- the cocotb sampler's idle edges
def _sampled(monitor, s):
    """What chimney.tb.axi_monitor.start_cocotb_monitors does with an edge: READY and
    payload read only while VALID is high, and an idle_step() for an edge with every
    VALID (and `fatal`) low when the monitor is quiet()."""
    if not any(s[ch + "valid"] for ch in monitor.CHANNELS) and not s.get("fatal") and monitor.quiet():
        monitor.idle_step()
        return
    sample = dict(monitor._idle_sample)
    for ch in monitor.CHANNELS:
        if s[ch + "valid"]:
            sample.update({k: v for k, v in s.items() if k.startswith(ch)})
    if "fatal" in s:
        sample["fatal"] = s["fatal"]
    monitor.step(sample)


def _outcome(monitor, feed_one, trace):
    try:
        for s in trace:
            feed_one(monitor, s)
        err = None
    except ProtocolViolation as e:
        err = (e.rule, e.channel, e.cycle)
    return err, monitor.cycle, monitor.handshakes, monitor.waived


@pytest.mark.parametrize("seed", range(300))
def test_sampler_idle_edges_change_nothing(seed):
    """Random traces (idle stretches, handshakes, dropped VALIDs, payload changes, resets,
    `fatal`): the sampler's way gives the same first violation, cycle count, handshakes
    and waivers as a step() of every edge."""
    import random
    rng = random.Random(seed)
    lite = seed % 2 == 0
    cls, idle = (AxiLiteMonitor, LITE_IDLE) if lite else (Axi4ManagerMonitor, AXI_IDLE)
    trace = []
    for _ in range(rng.randrange(5, 60)):
        s = dict(idle)
        if rng.random() < 0.5:                      # an active edge
            for ch in cls.CHANNELS:
                if rng.random() < 0.3:
                    s[ch + "valid"] = 1
                s[ch + "ready"] = int(rng.random() < 0.6)
            for k in cls.SIGNALS:
                if not k.endswith(("valid", "ready")) and rng.random() < 0.2:
                    s[k] = rng.choice((0, 1, rng.getrandbits(8)))
        if not lite and rng.random() < 0.03:
            s["fatal"] = 1
        if rng.random() < 0.02:
            s = {"rst": 1}
            trace.append(s)
            continue
        trace.append(s)
    every = _outcome(cls(), lambda m, s: m.step(dict(s)), trace)
    sampled = _outcome(cls(), lambda m, s: m.step({"rst": 1}) if s.get("rst") else _sampled(m, s), trace)
    assert sampled == every
