"""An AXI4 subordinate (host memory) for Amaranth-sim testbenches, with a protocol monitor.

`AxiMemoryModel` answers a design's AXI4 manager port (`rtl.axi.AxiSignature`) from a
Python memory object with `read(addr, n) -> bytes` and `write(addr, data)`
(`SparseMemory` below, or any `chimney.sw.bus.HostMemory`). It runs as two simulator
processes, one for the write path (AW/W/B) and one for the read path (AR/R), so the
two proceed concurrently like in a real interconnect:

    mem = SparseMemory()
    model = AxiMemoryModel(dut.axi, mem, seed=1, pause=0.3, read_latency=2,
                           errors=[(0x5000, 0x5040, RESP_SLVERR)], hang=[(0x9000, 0xA000)])
    model.add_to(sim)          # before sim.run()
    ...
    assert model.violations == []

Both processes sample the bus at each clock edge (`ctx.tick().sample`) and drive their
outputs for the next cycle, like registers: ready signals never depend on valid in the
same cycle, so a manager that waits for ready before raising valid would deadlock
(AXI forbids that anyway).

Features
  pause        probability that a ready (AW/W/AR) is low or that the next response (R/B)
               is held back in a cycle; a float for every channel or a dict per channel
  read_latency cycles from AR acceptance to the first R beat (0: next cycle)
  b_latency    cycles from the last W beat to B
  errors       (lo, hi, resp) address ranges [lo, hi): read beats there answer resp
               (SLVERR/DECERR); a write burst touching one answers resp and writes
               nothing there
  hang         (lo, hi) ranges that never answer: a read burst starting there never gets
               R, a write burst never gets B (responses after it stall too, since one ID
               keeps them in order)
  block        a set of channel names ("aw", "w", "ar") whose ready is held low
               while present, for address/data-phase timeout tests
  aw_waits_for_w  AWREADY only once W data for that burst has been accepted (AXI4
               lets a subordinate wait for WVALID; a manager that holds W back for
               AWREADY deadlocks here)
  lanes        from the bus width: 8-byte narrow beats on a 64..512-bit bus; R fills
               the other lanes with noise

Protocol monitor: `chimney.tb.axi_monitor.Axi4ManagerMonitor` runs beside the model
(unless monitor=False) and ends the simulation at the first AXI violation; pass the
master's `fatal` so it allows the documented abandonment. The model's own checks
(each violation is a string appended to `violations`): size other
than 8 bytes, non-INCR burst, unaligned address, burst longer than `max_burst`, burst
crossing 4 KiB, WLAST on the wrong beat, W strobes outside the beat's lane,
AR/AW/W valid dropped or payload changed before the handshake, nonzero ID (unless
`check_id=False`).
"""

import random
from collections import deque

from chimney.rtl.axi import RESP_OKAY, RESP_SLVERR, RESP_DECERR  # noqa: F401 (re-exported)

PAGE = 4096


MASK64 = (1 << 64) - 1


class SparseMemory:
    """Byte-addressed memory backed by 4 KiB pages created on first write; reads of
    untouched memory return zeros."""

    def __init__(self):
        self.pages = {}

    def read(self, addr, n):
        out = bytearray()
        while n > 0:
            page, off = divmod(addr, PAGE)
            k = min(n, PAGE - off)
            buf = self.pages.get(page)
            out += buf[off:off + k] if buf is not None else bytes(k)
            addr += k
            n -= k
        return bytes(out)

    def write(self, addr, data):
        data = memoryview(bytes(data))
        while data:
            page, off = divmod(addr, PAGE)
            k = min(len(data), PAGE - off)
            buf = self.pages.setdefault(page, bytearray(PAGE))
            buf[off:off + k] = data[:k]
            addr += k
            data = data[k:]


class _Burst:
    __slots__ = ("addr", "len", "beat", "due", "resp", "hang")

    def __init__(self, addr, length, due=0):
        self.addr, self.len, self.beat, self.due = addr, length, 0, due
        self.resp, self.hang = RESP_OKAY, False


class AxiMemoryModel:
    CHANNELS = ("aw", "w", "b", "ar", "r")

    def __init__(self, bus, memory=None, *, seed=0, pause=0.0, read_latency=0, b_latency=0,
                 errors=(), hang=(), max_burst=256, queue_depth=8, check_id=True, aw_waits_for_w=False,
                 fatal=None, monitor=True, windows=None):
        self.bus = bus
        # 8-byte beats on a bus of `lanes` 64-bit lanes (narrow bursts when lanes > 1)
        self.lanes = len(bus.wdata) // 64
        self.noise = random.Random(seed + 1)
        self.memory = memory if memory is not None else SparseMemory()
        self.rng = random.Random(seed)
        if isinstance(pause, dict):
            self.pause = {ch: float(pause.get(ch, 0.0)) for ch in self.CHANNELS}
        else:
            self.pause = {ch: float(pause) for ch in self.CHANNELS}
        self.read_latency = read_latency
        self.b_latency = b_latency
        self.errors = list(errors)
        self.hang = list(hang)
        self.max_burst = max_burst
        self.queue_depth = queue_depth       # accepted bursts waiting per path
        self.check_id = check_id
        # a subordinate AXI allows: AWREADY only once the burst's first W beat is offered
        self.aw_waits_for_w = aw_waits_for_w
        self.block = set()
        self.violations = []
        # the passive protocol monitor of chimney.tb.axi_monitor (fails the run at the first
        # violation); `fatal` is the master's bus-dead flag, whose abandonment it allows
        self.fatal = fatal
        self.windows = windows               # the engine's latched DMA windows: (signal, n)
        self.monitor = None
        if monitor:
            from chimney.tb.axi_monitor import Axi4ManagerMonitor
            self.monitor = Axi4ManagerMonitor(max_burst, len(bus.wdata),
                                              n_windows=windows[1] if windows else 0)
        self.cycle = 0                       # clock edges seen by the read path
        # handshake statistics: counts and (first, last) cycle of data beats
        self.stats = {"ar": 0, "r": 0, "aw": 0, "w": 0, "b": 0,
                      "r_first": None, "r_last": None, "w_first": None, "w_last": None}

    # ------------------------------------------------------------------ helpers
    def _violation(self, cycle, text):
        self.violations.append(f"cycle {cycle}: {text}")

    def _resp_at(self, addr, n=8):
        for lo, hi, resp in self.errors:
            if addr < hi and lo < addr + n:
                return resp
        return RESP_OKAY

    def _hung(self, addr, n=8):
        return any(addr < hi and lo < addr + n for lo, hi in self.hang)

    def _ready(self, ch):
        if ch in self.block:
            return 0
        p = self.pause[ch]
        return int(not (p and self.rng.random() < p))

    def _go(self, ch):                      # may a response channel present its next item?
        p = self.pause[ch]
        return not (p and self.rng.random() < p)

    def _check_addr(self, cycle, ch, addr, length, size, burst, id_):
        if size != 3:
            self._violation(cycle, f"{ch}: size {size}, expected 3 (8 bytes)")
        if burst != 1:
            self._violation(cycle, f"{ch}: burst type {burst}, expected INCR")
        if addr % 8:
            self._violation(cycle, f"{ch}: unaligned address {addr:#x}")
        if length + 1 > self.max_burst:
            self._violation(cycle, f"{ch}: {length + 1} beats > max_burst {self.max_burst}")
        if (addr % PAGE) + (length + 1) * 8 > PAGE:
            self._violation(cycle, f"{ch}: burst {addr:#x}+{length + 1} beats crosses 4 KiB")
        if self.check_id and id_:
            self._violation(cycle, f"{ch}: id {id_}, expected 0")

    def _check_stable(self, cycle, ch, prev, valid, payload):
        """prev = (valid, ready, payload) sampled at the previous edge."""
        if prev[0] and not prev[1]:
            if not valid:
                self._violation(cycle, f"{ch}: valid dropped before handshake")
            elif payload != prev[2]:
                self._violation(cycle, f"{ch}: payload changed before handshake")

    def add_to(self, sim):
        sim.add_process(self._write_path)
        sim.add_process(self._read_path)
        if self.monitor is not None:
            from chimney.tb.axi_monitor import add_amaranth_monitor
            add_amaranth_monitor(sim, self.monitor, self.bus, fatal=self.fatal,
                                 windows=self.windows[0] if self.windows else None)

    # --------------------------------------------------------------- write path
    async def _write_path(self, ctx):
        b = self.bus
        ctx.set(b.awready, 0)
        ctx.set(b.wready, 0)
        ctx.set(b.bvalid, 0)
        pending = deque()      # bursts accepted on AW, waiting for their W beats
        early = deque()        # W beats accepted before their burst's AW
        responses = deque()    # bursts whose W is complete, waiting for B
        prev_aw = prev_w = (0, 0, None)
        cycle = 0
        st = self.stats
        async for _, rst, awvalid, awready, awaddr, awlen, awsize, awburst, awid, \
                wvalid, wready, wdata, wstrb, wlast, bvalid, bready in ctx.tick().sample(
                    b.awvalid, b.awready, b.awaddr, b.awlen, b.awsize, b.awburst, b.awid,
                    b.wvalid, b.wready, b.wdata, b.wstrb, b.wlast, b.bvalid, b.bready):
            cycle += 1
            if rst:
                pending.clear()
                early.clear()
                responses.clear()
                prev_aw = prev_w = (0, 0, None)
                ctx.set(b.awready, 0)
                ctx.set(b.wready, 0)
                ctx.set(b.bvalid, 0)
                continue
            aw_pay = (awaddr, awlen, awsize, awburst, awid)
            w_pay = (wdata, wstrb, wlast)
            self._check_stable(cycle, "AW", prev_aw, awvalid, aw_pay)
            self._check_stable(cycle, "W", prev_w, wvalid, w_pay)
            prev_aw = (awvalid, awready, aw_pay)
            prev_w = (wvalid, wready, w_pay)

            # W may come before its AW (AXI4 A3.3.1): beats wait in `early` until it does
            if wvalid and wready:
                st["w"] += 1
                if st["w_first"] is None:
                    st["w_first"] = cycle
                st["w_last"] = cycle
                early.append((wdata, wstrb, wlast))
            if awvalid and awready:
                st["aw"] += 1
                self._check_addr(cycle, "AW", awaddr, awlen, awsize, awburst, awid)
                bu = _Burst(awaddr, awlen)
                bu.hang = self._hung(awaddr)
                pending.append(bu)
            while early and pending:
                wdata, wstrb, wlast = early.popleft()
                bu = pending[0]
                addr = bu.addr + 8 * bu.beat
                if bool(wlast) != (bu.beat == bu.len):
                    self._violation(cycle, f"W: wlast={wlast} on beat {bu.beat} of "
                                           f"{bu.len + 1} (burst {bu.addr:#x})")
                resp = self._resp_at(addr)
                lane = addr // 8 % self.lanes
                if wstrb & ~(0xFF << 8 * lane):
                    self._violation(cycle, f"W: strobes {wstrb:#x} outside lane {lane} of {addr:#x}")
                wdata, wstrb = wdata >> 64 * lane & MASK64, wstrb >> 8 * lane & 0xFF
                if resp:
                    bu.resp = resp
                elif wstrb:
                    self._write_beat(addr, wdata, wstrb)
                bu.beat += 1
                if bu.beat > bu.len:
                    pending.popleft()
                    bu.due = cycle + self.b_latency
                    responses.append(bu)
            if early:                        # W data accepted ahead of its AW
                st["w_ahead_cycles"] = st.get("w_ahead_cycles", 0) + 1
            if bvalid and bready:
                st["b"] += 1
                responses.popleft()
                bvalid = 0

            # outputs for the next cycle
            aw_ok = len(pending) < self.queue_depth and (early or not self.aw_waits_for_w)
            ctx.set(b.awready, self._ready("aw") if aw_ok else 0)
            ctx.set(b.wready, self._ready("w"))
            if not bvalid and responses:
                head = responses[0]
                if not head.hang and cycle >= head.due and self._go("b"):
                    ctx.set(b.bresp, head.resp)
                    bvalid = 1
            ctx.set(b.bvalid, bvalid)

    def _write_beat(self, addr, wdata, wstrb):
        if wstrb == 0xFF:
            self.memory.write(addr, wdata.to_bytes(8, "little"))
            return
        old = bytearray(self.memory.read(addr, 8))
        new = wdata.to_bytes(8, "little")
        for i in range(8):
            if wstrb >> i & 1:
                old[i] = new[i]
        self.memory.write(addr, bytes(old))

    # ---------------------------------------------------------------- read path
    async def _read_path(self, ctx):
        b = self.bus
        ctx.set(b.arready, 0)
        ctx.set(b.rvalid, 0)
        queue = deque()        # bursts accepted on AR, oldest first
        prev_ar = (0, 0, None)
        st = self.stats
        async for _, rst, arvalid, arready, araddr, arlen, arsize, arburst, arid, \
                rvalid, rready in ctx.tick().sample(
                    b.arvalid, b.arready, b.araddr, b.arlen, b.arsize, b.arburst, b.arid,
                    b.rvalid, b.rready):
            self.cycle += 1
            cycle = self.cycle
            if rst:
                queue.clear()
                prev_ar = (0, 0, None)
                ctx.set(b.arready, 0)
                ctx.set(b.rvalid, 0)
                continue
            ar_pay = (araddr, arlen, arsize, arburst, arid)
            self._check_stable(cycle, "AR", prev_ar, arvalid, ar_pay)
            prev_ar = (arvalid, arready, ar_pay)

            if rvalid and rready:
                st["r"] += 1
                if st["r_first"] is None:
                    st["r_first"] = cycle
                st["r_last"] = cycle
                head = queue[0]
                head.beat += 1
                if head.beat > head.len:
                    queue.popleft()
                rvalid = 0
            if arvalid and arready:
                st["ar"] += 1
                self._check_addr(cycle, "AR", araddr, arlen, arsize, arburst, arid)
                bu = _Burst(araddr, arlen, cycle + self.read_latency)
                bu.hang = self._hung(araddr)
                queue.append(bu)

            ctx.set(b.arready, self._ready("ar") if len(queue) < self.queue_depth else 0)
            if not rvalid and queue:
                head = queue[0]
                if not head.hang and cycle >= head.due and self._go("r"):
                    addr = head.addr + 8 * head.beat
                    resp = self._resp_at(addr)
                    value = 0 if resp else int.from_bytes(self.memory.read(addr, 8), "little")
                    lane = addr // 8 % self.lanes
                    noise = (self.noise.getrandbits(64 * self.lanes) & ~(MASK64 << 64 * lane)
                             if self.lanes > 1 else 0)
                    ctx.set(b.rdata, noise | value << 64 * lane)    # other lanes: garbage
                    ctx.set(b.rresp, resp)
                    ctx.set(b.rlast, head.beat == head.len)
                    ctx.set(b.rid, 0)
                    rvalid = 1
            ctx.set(b.rvalid, rvalid)
