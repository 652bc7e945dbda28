"""Passive AXI protocol monitors: the rules of chimney.formal's port proofs, checked in
every simulation, failing it at the first violation with the rule, channel and cycle.

The checkers are plain Python (`step(sample)` once per clock edge, with the values
sampled at that edge, before the registers update: a handshake is VALID & READY seen
there), so the same code runs under Amaranth's simulator (`add_amaranth_monitors`)
and under cocotb on Icarus and Verilator (`start_cocotb_monitors`).

AxiLiteMonitor (the CSR port, subordinate = the engine):
  manager   AW, W, AR: VALID held until READY, payload stable
  subordinate  B, R: VALID held until READY, payload stable; a B only for a write whose
            AW and W were both accepted (in earlier cycles), one per write; an R only
            for an accepted AR, one per AR; RESP never EXOKAY
Axi4ManagerMonitor (the DMA port, manager = the engine):
  manager   AR, AW, W: VALID held until READY, payload stable, except in the cycle the
            master declares the bus dead (`fatal`), and no VALID at all from then on;
            AxBURST INCR; AxSIZE 8 bytes and ID 0 (the engine's contract); AxLEN + 1 <=
            max_burst; no burst across 4 KiB; per burst exactly AWLEN + 1 W beats with
            WLAST on the last one only; each W beat's WSTRB inside the byte lanes of its
            address (narrow bursts on a wider bus); with `n_windows`, every AR and AW
            burst, first byte to last, inside one of the DMA windows the engine latched
            (chimney.contract.windows; the sample's `windows`, the engine's `win` register)
  subordinate  R only while beats are owed, RLAST on a burst's last beat; B only for a
            burst whose AW and last W beat were accepted; R and B: VALID held until
            READY, payload stable
"""

from collections import deque

from chimney.contract.windows import in_any

PAGE = 4096
M64 = (1 << 64) - 1


def _windows(raw, n):
    """The engine's `win` register (rtl/windows.py WINDOW array) as [(base, limit)]."""
    return [(raw >> (128 * i) & M64, raw >> (128 * i + 64) & M64) for i in range(n)]


class ProtocolViolation(AssertionError):
    def __init__(self, port, party, channel, rule, cycle, detail=""):
        self.port, self.party, self.channel, self.rule, self.cycle = port, party, channel, rule, cycle
        super().__init__(f"AXI protocol violation on {port} at cycle {cycle}: {party} broke "
                         f"'{rule}' on channel {channel}" + (f" ({detail})" if detail else ""))


class _Monitor:
    port = "?"

    def __init__(self, name=None):
        self.port = name or self.port
        self.cycle = 0
        self.violations = []
        self.waived = []            # documented deviations seen (the DMA's abandonment at fatal)
        self.prev = None
        self.handshakes = {}

    def fail(self, party, channel, rule, detail=""):
        v = ProtocolViolation(self.port, party, channel, rule, self.cycle, detail)
        self.violations.append(v)
        raise v

    def _hold(self, s, party, ch, payload_keys, exempt=False):
        p = self.prev
        if p is None:
            return
        v, r = ch.lower() + "valid", ch.lower() + "ready"
        if exempt:
            if p[v] and not p[r] and not s[v]:    # abandoned at the fatal error: allowed, recorded
                self.waived.append(f"cycle {self.cycle}: {ch} VALID dropped without handshake at fatal")
            return
        if p[v] and not p[r]:
            if not s[v]:
                self.fail(party, ch, "VALID held until READY", "VALID dropped before the handshake")
            changed = [k for k in payload_keys if s[k] != p[k]]
            if changed:
                self.fail(party, ch, "payload stable while VALID and not READY",
                          ", ".join(f"{k} {p[k]:#x} -> {s[k]:#x}" for k in changed))

    def step(self, s):
        """One clock edge; `s` maps signal names (AXI names, lower case; plus `rst`,
        and `fatal` for the DMA port) to integers."""
        self.cycle += 1
        if s.get("rst"):
            self.reset()
            self.prev = None
            self._waiting = False
            return
        for ch in self.CHANNELS:
            for k in (ch + "valid", ch + "ready"):
                if s.get(k, 0) == -1:     # undriven: no agent on that side yet (cocotb tests attach
                    s[k] = 0              # the host memory after start(); CSR-only tests have none)
        self.check(s)
        self.prev = dict(s)
        waiting = False
        for ch in self.CHANNELS:
            if s[ch + "valid"]:
                if s[ch + "ready"]:
                    self.handshakes[ch] = self.handshakes.get(ch, 0) + 1
                else:
                    waiting = True
        self._waiting = waiting

    _waiting = False            # some channel VALID without READY at the last edge

    def quiet(self):
        """Whether an edge with every VALID low (and `fatal` low) would change nothing but
        the cycle count: the rules look at an idle edge only through the previous edge's
        VALID-without-READY (a dropped VALID) and `fatal`; the bookkeeping only moves on a
        VALID. The cocotb sampler then calls `idle_step()` instead of `step()`."""
        return not self._waiting

    def idle_step(self):
        """What `step()` does with an all-idle sample when `quiet()`."""
        self.cycle += 1
        self.prev = self._idle_sample

    @property
    def _idle_sample(self):
        idle = self.__dict__.get("_idle")
        if idle is None:
            idle = self._idle = {k: 0 for k in self.SIGNALS}
        return idle


class AxiLiteMonitor(_Monitor):
    port = "csr"
    CHANNELS = ("aw", "w", "b", "ar", "r")
    MANAGER = ("aw", "w", "ar")       # channels whose VALID the manager drives
    SIGNALS = ("awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid",
               "bready", "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready")

    def __init__(self, name=None):
        super().__init__(name)
        self.reset()

    def reset(self):
        self.aw = self.w = self.b = self.ar = self.r = 0

    def check(self, s):
        self._hold(s, "manager", "AW", ("awaddr",))
        self._hold(s, "manager", "W", ("wdata", "wstrb"))
        self._hold(s, "manager", "AR", ("araddr",))
        self._hold(s, "subordinate", "B", ("bresp",))
        self._hold(s, "subordinate", "R", ("rdata", "rresp"))
        if s["bvalid"]:
            if min(self.aw, self.w) <= self.b:
                self.fail("subordinate", "B", "one B per accepted write, after both AW and W",
                          f"{self.aw} AW, {self.w} W accepted, {self.b} B given")
            if s["bresp"] == 1:
                self.fail("subordinate", "B", "RESP legal on AXI4-Lite", "EXOKAY")
        if s["rvalid"]:
            if self.ar <= self.r:
                self.fail("subordinate", "R", "one R per accepted AR", f"{self.ar} AR accepted, {self.r} R given")
            if s["rresp"] == 1:
                self.fail("subordinate", "R", "RESP legal on AXI4-Lite", "EXOKAY")
        self.aw += bool(s["awvalid"] and s["awready"])
        self.w += bool(s["wvalid"] and s["wready"])
        self.b += bool(s["bvalid"] and s["bready"])
        self.ar += bool(s["arvalid"] and s["arready"])
        self.r += bool(s["rvalid"] and s["rready"])


class Axi4ManagerMonitor(_Monitor):
    port = "dma"
    CHANNELS = ("aw", "w", "b", "ar", "r")
    MANAGER = ("aw", "w", "ar")
    SIGNALS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "awready",
               "wdata", "wstrb", "wlast", "wvalid", "wready", "bid", "bresp", "bvalid", "bready",
               "arid", "araddr", "arlen", "arsize", "arburst", "arvalid", "arready",
               "rid", "rdata", "rresp", "rlast", "rvalid", "rready")

    def __init__(self, max_burst=256, data_width=64, name=None, n_windows=0):
        super().__init__(name)
        self.max_burst = max_burst
        self.lanes = data_width // 64
        self.n_windows = n_windows          # 0: no window check (the sample has no `windows`)
        self.reset()

    def reset(self):
        self.r_bursts = deque()     # [beats left] of accepted AR bursts
        self.aw_bursts = deque()    # (addr, len) of accepted AW bursts without all W beats
        self.w_early = deque()      # W beats accepted before their AW: (strb, last)
        self.w_beat = 0             # beat index in the current W burst (AW known)
        self.b_owed = 0
        self.dead = False

    def _addr(self, s, ch):
        addr, ln = s[ch + "addr"], s[ch + "len"]
        C = ch.upper()
        if s[ch + "burst"] != 1:
            self.fail("manager", C, "AxBURST INCR", f"burst type {s[ch + 'burst']}")
        if s[ch + "size"] != 3:
            self.fail("manager", C, "AxSIZE 8 bytes (engine contract)", f"size {s[ch + 'size']}")
        if s[ch + "id"]:
            self.fail("manager", C, "ID 0 (engine contract)", f"id {s[ch + 'id']}")
        if ln + 1 > self.max_burst:
            self.fail("manager", C, "AxLEN + 1 <= max_burst", f"{ln + 1} beats > {self.max_burst}")
        if (addr % PAGE) + (ln + 1) * 8 > PAGE:
            self.fail("manager", C, "no burst across a 4 KiB boundary", f"{addr:#x} + {ln + 1} beats")
        if self.n_windows:
            wins = _windows(s["windows"], self.n_windows)
            if not in_any(addr, (ln + 1) * 8, wins):
                self.fail("manager", C, "inside the DMA windows",
                          f"{addr:#x} + {ln + 1} beats; windows " + ", ".join(f"[{b:#x}, {l:#x}]" for b, l in wins))

    def _w_beat(self, strb, last, addr, length, k):
        """Beat k of the burst (addr, length): lane and WLAST."""
        lane = (addr // 8 + k) % self.lanes
        if strb & ~(0xFF << (8 * lane)):
            self.fail("manager", "W", "WSTRB only in the byte lanes of the beat's address",
                      f"beat {k} of burst {addr:#x}: wstrb {strb:#x}, lane {lane}")
        if bool(last) != (k == length):
            self.fail("manager", "W", "WLAST exactly on the last beat of the burst",
                      f"wlast={last} on beat {k} of {length + 1} (burst {addr:#x})")

    def _match_w(self):
        while self.w_early and self.aw_bursts:
            strb, last = self.w_early.popleft()
            addr, length = self.aw_bursts[0]
            self._w_beat(strb, last, addr, length, self.w_beat)
            self.w_beat += 1
            if self.w_beat > length:
                self.aw_bursts.popleft()
                self.w_beat = 0
                self.b_owed += 1

    def check(self, s):
        fatal = bool(s.get("fatal", 0))
        self._hold(s, "manager", "AR", ("araddr", "arlen", "arsize", "arburst", "arid"), exempt=fatal)
        self._hold(s, "manager", "AW", ("awaddr", "awlen", "awsize", "awburst", "awid"), exempt=fatal)
        self._hold(s, "manager", "W", ("wdata", "wstrb", "wlast"), exempt=fatal)
        self._hold(s, "subordinate", "R", ("rdata", "rresp", "rlast", "rid"))
        self._hold(s, "subordinate", "B", ("bresp", "bid"))
        if fatal:
            self.dead = True
            for ch in ("ar", "aw", "w"):
                if s[ch + "valid"]:
                    self.fail("manager", ch.upper(), "no VALID after the fatal error")
        if s["arvalid"]:
            self._addr(s, "ar")
        if s["awvalid"]:
            self._addr(s, "aw")
        # subordinate: responses only when owed
        if s["rvalid"] and not self.r_bursts:
            self.fail("subordinate", "R", "R only for an accepted AR", "no R beat owed")
        if s["rvalid"] and self.r_bursts and bool(s["rlast"]) != (self.r_bursts[0] == 1):
            self.fail("subordinate", "R", "RLAST exactly on the last beat of the burst",
                      f"rlast={s['rlast']} with {self.r_bursts[0]} beats left")
        if s["bvalid"] and self.b_owed <= 0 and not self.dead:
            self.fail("subordinate", "B", "B only after the burst's AW and last W beat")
        # bookkeeping
        if s["rvalid"] and s["rready"] and self.r_bursts:
            self.r_bursts[0] -= 1
            if self.r_bursts[0] == 0:
                self.r_bursts.popleft()
        if s["arvalid"] and s["arready"]:
            self.r_bursts.append(s["arlen"] + 1)
        if s["bvalid"] and s["bready"]:
            self.b_owed -= 1
        if self.dead:                  # the master abandoned the bus: stop matching W
            self.aw_bursts.clear()
            self.w_early.clear()
            self.w_beat = 0
            return
        if s["awvalid"] and s["awready"]:
            self.aw_bursts.append((s["awaddr"], s["awlen"]))
        if s["wvalid"] and s["wready"]:
            self.w_early.append((s["wstrb"], s["wlast"]))
            if len(self.w_early) > 256 + 1 and not self.aw_bursts:
                self.fail("manager", "W", "W beats match AW bursts", "more W beats than any AW can take")
        self._match_w()
        if self.w_early and not self.aw_bursts:
            # beats ahead of their AW: WLAST before the burst can end is checked on matching;
            # a WLAST ahead of AW marks a complete W burst
            pass


# ---------------------------------------------------------------------- Amaranth sim
def add_amaranth_monitor(sim, monitor, bus, *, fatal=None, windows=None):
    """A simulator process that steps `monitor` at every clock edge of `bus` (an
    rtl.axi signature interface); a violation ends the simulation with the exception.
    `windows`: the engine's latched DMA windows (checked when the monitor has n_windows)."""
    names = [n for n in monitor.SIGNALS if hasattr(bus, n)]
    sigs = [getattr(bus, n) for n in names]
    if fatal is not None:
        names.append("fatal")
        sigs.append(fatal)
    if windows is not None:
        names.append("windows")
        sigs.append(windows.as_value() if hasattr(windows, "as_value") else windows)

    async def process(ctx):
        async for values in ctx.tick().sample(*sigs):
            _, rst, *vals = values
            sample = dict(zip(names, (int(v) for v in vals)))
            sample["rst"] = int(rst)
            monitor.step(sample)
    sim.add_process(process)
    return monitor


# ---------------------------------------------------------------------------- cocotb
def _int(value):
    """A sampled value; X or Z (an idle payload may be) reads as -1, never equal to a value."""
    try:
        return int(value)
    except ValueError:
        return -1


def _binstr_reader(handle):
    """A cheap reader of a handle's value as a binary string: the simulator object's own
    getter (what `handle.value` calls before it builds a Logic/LogicArray), else str()."""
    raw = getattr(handle, "_handle", None)
    get = getattr(raw, "get_signal_val_binstr", None)
    return get if get is not None else (lambda: str(handle.value))


def start_cocotb_monitors(dut, params=None):
    """Start the CSR and DMA monitors on the engine's top level (once per test);
    return them. A violation raises in the monitors' guard task, which fails the test.

    One callback samples both ports at every rising edge (the values before the flops update).
    Per port it reads the five VALIDs (and `fatal`); a READY and the payload of a channel
    only while its VALID is high (the rules look at neither otherwise). An edge at which
    every VALID of a port is low is an `idle_step()` of its monitor when `quiet()` (nothing
    was left waiting for READY): the same result as a `step()` of that idle sample."""
    import cocotb
    from chimney.contract import EngineParams
    from chimney.tb.env import ports
    params = params or EngineParams()
    names = ports()
    clk, rst_h = getattr(dut, names.clk), getattr(dut, names.rst)

    def handles(prefix, monitor):
        out = {}
        for n in monitor.SIGNALS:
            h = getattr(dut, f"{prefix}{names.sep}{n}", None)
            if h is not None:
                out[n] = h
        return out

    csr = AxiLiteMonitor()
    dma = Axi4ManagerMonitor(params.max_burst, params.data_width, n_windows=params.n_windows)
    fatal = None
    try:
        fatal = names.engine_of(dut).dma.fatal
    except AttributeError:
        pass
    # the engine's latched DMA windows (tb/simbuild.py makes the register public)
    win_get = _binstr_reader(names.engine_of(dut).engine.win)
    plan = []
    for prefix, mon, extra in ((names.csr, csr, None), (names.dma, dma, fatal)):
        hs = handles(prefix, mon)
        # per channel: its VALID reader, its READY key and reader, and its payload readers
        chans = []
        for ch in mon.CHANNELS:
            payload = tuple((k, _binstr_reader(h)) for k, h in hs.items()
                            if k.startswith(ch) and k not in (ch + "valid", ch + "ready"))
            chans.append((ch + "valid", ch + "ready", _binstr_reader(hs[ch + "ready"]), payload))
        plan.append((mon, tuple(_binstr_reader(hs[ch + "valid"]) for ch in mon.CHANNELS), tuple(chans),
                     _binstr_reader(extra) if extra is not None else None))
    plan = tuple(plan)
    rst_get = _binstr_reader(rst_h)
    rst_active = str(int(names.rst_active_high))

    def value(bits):
        try:
            return int(bits, 2)
        except ValueError:            # X/Z
            return -1

    def full_step(mon, valids, chans, f, fatal_get):
        sample = dict(mon._idle_sample)
        for bits, (vk, rk, ready_get, payload) in zip(valids, chans):
            v = value(bits)
            sample[vk] = v
            if v:
                sample[rk] = value(ready_get())
                for k, g in payload:
                    sample[k] = value(g())
        if fatal_get is not None:
            sample["fatal"] = value(f)
        if mon is dmon:
            sample["windows"] = value(win_get())
        mon.step(sample)

    (cmon, (c0, c1, c2, c3, c4), cchans, _), (dmon, (d0, d1, d2, d3, d4), dchans, fatal_get) = plan
    cidle, didle = cmon._idle_sample, dmon._idle_sample
    no_fatal = (lambda: "0") if fatal_get is None else fatal_get

    def sample_edge():
        r = rst_get()
        if r == rst_active or r not in ("0", "1"):     # X/Z before the first reset: in reset
            cmon.step({"rst": 1})
            dmon.step({"rst": 1})
            return
        # the idle edges inline: idle_step() when no VALID is high and the monitor is quiet()
        valids = (c0(), c1(), c2(), c3(), c4())
        if "1" in valids or cmon._waiting:
            full_step(cmon, valids, cchans, None, None)
        else:
            cmon.cycle += 1
            cmon.prev = cidle
        valids = (d0(), d1(), d2(), d3(), d4())
        f = no_fatal()
        if "1" in valids or f != "0" or dmon._waiting:
            full_step(dmon, valids, dchans, f, fatal_get)
        else:
            dmon.cycle += 1
            dmon.prev = didle

    # The sampler is a plain simulator callback on the clock's rising edge, armed again at
    # every edge, not a task awaiting RisingEdge: a task resume costs several microseconds
    # a cycle, about as much as the samples themselves. It sees what a task would see there
    # (the values before the flops update: writes made by tasks at that edge are applied
    # after the edge's callbacks). A violation disarms it and wakes `guard`, which raises it
    # in a task so that the test fails; the end of the test cancels `guard`, which disarms it.
    from cocotb import simulator
    from cocotb.triggers import Event
    raw_clk = clk._handle
    failed = Event()
    armed = {}

    def on_edge():
        try:
            sample_edge()
        except BaseException as e:         # noqa: BLE001 - carried to the guard task
            armed.pop("cb", None)
            armed["error"] = e
            failed.set()
            return
        armed["cb"] = simulator.register_value_change_callback(raw_clk, on_edge, simulator.RISING)

    async def guard():
        armed["cb"] = simulator.register_value_change_callback(raw_clk, on_edge, simulator.RISING)
        try:
            await failed.wait()
            raise armed["error"]
        finally:
            cb = armed.pop("cb", None)
            if cb is not None:
                cb.deregister()
    cocotb.start_soon(guard())
    mons = [csr, dma]
    dut._chimney_monitors = mons
    return mons
