"""The DMA port (`rtl.dma.DmaMaster`): an AXI4 manager, checked for every data width.

Assumed: the upstream streams keep the `amaranth.lib.stream` rules (valid held until
ready, payload stable) and give 8-byte aligned addresses (dma.py's documented
precondition); the subordinate keeps its AXI obligations: RVALID only while R beats
are owed (per the ARLEN of accepted bursts), BVALID only while a burst is owed a B
(both its AW and its last W beat accepted), both held with a stable payload until
the handshake. Every READY, the data and the responses are free.

Asserted, on the AXI port only:
  * AR, AW, W: VALID held until READY with a stable payload, except in the cycle the
    master declares the bus dead (`fatal`, after a write error or a timeout: dma.py's
    documented abandonment); from then on no VALID at all;
  * AxBURST INCR, AxSIZE 8 bytes, ID 0, aligned address, AxLEN + 1 <= max_burst, no
    burst crosses a 4 KiB boundary;
  * W bursts match AW bursts one to one, in order: the beats up to and including
    WLAST of the n-th W burst are exactly AWLEN + 1 of the n-th AW (W may lead or
    trail AW); on a wider bus each beat's WSTRB lies in one 64-bit lane, the lane of
    address A + 8k for beat k of a burst at A;
  * outstanding work is bounded: AR beats owed <= rd_outstanding * max_burst, AW bursts
    ahead of W < 4, W bursts ahead of AW <= 1, B owed <= wr_outstanding;
  * responses are consumed: BREADY whenever BVALID; RREADY whenever RVALID and the
    rd_data consumer is ready (and always once fatal).
`dma_w_first` (separate proof): against a subordinate that gives AWREADY exactly once
the burst's last W beat is in (AXI allows a subordinate to wait for W), with an eager W producer and an always-ready
W channel, no AWVALID waits more than max_burst + 2 cycles: W never waits for AWREADY.

Mutants: `awvalid_drop` (wrapper lowers AWVALID for a cycle), `burst_too_long` (DUT
built with max_burst + 1, checked against max_burst), `wlast_early` (wrapper raises
WLAST on a free beat), `lane_shift` (wider bus: wrapper moves WSTRB one lane up),
`w_waits_aw` (wrapper holds W until its AW is accepted, the bug fixed in 3cc0900).
"""

from amaranth.hdl import (Value, Array, Assert, Assume, Cat, ClockDomain, Const, Cover, Elaboratable, Module,
                          Mux, Signal)

from chimney.contract import EngineParams
from chimney.rtl.axi import BURST_INCR
from chimney.rtl.dma import DmaMaster

from .rules import free, handshake_hold, past, started

MUTANTS = {
    "awvalid_drop": "wrapper lowers AWVALID for one cycle while AWREADY is low",
    "burst_too_long": "DUT built with max_burst + 1, properties checked against max_burst",
    "wlast_early": "wrapper raises WLAST on a beat the solver picks",
    "lane_shift": "wrapper moves WSTRB one 64-bit lane up (bus wider than 64 bits)",
}
W_FIRST_MUTANTS = {"w_waits_aw": "wrapper holds W back until its AW is accepted (the 3cc0900 deadlock)"}


def formal_params(data_width=64, max_burst=4, dma_timeout=6):
    """Small enough for the solver, large enough for the behaviour: 32-bit addresses
    (4 KiB crossings still free), bursts of up to 4 beats, a 6-cycle timeout so fatal
    errors happen inside the BMC depth."""
    return EngineParams(data_width=data_width, addr_width=32, max_burst=max_burst, dma_timeout=dma_timeout)


class DmaPortHarness(Elaboratable):
    def __init__(self, data_width=64, mutant=None, w_first=False, side="both"):
        assert mutant in (None, *MUTANTS, *W_FIRST_MUTANTS), mutant
        assert side in ("both", "read", "write")
        self.side = side
        self.params = formal_params(data_width, dma_timeout=16 if w_first else 6)
        self.mutant = mutant
        self.w_first = w_first
        self.ports = []

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain()
        self.ports = [cd.clk, cd.rst]
        m.d.comb += Assume(~cd.rst)
        go = started(m)
        p = self.params
        mb = p.max_burst
        lanes = p.data_width // 64
        built = p.replace(max_burst=mb + 1) if self.mutant == "burst_too_long" else p
        # smaller queues than the defaults (4, 4, 16) keep the solver fast; the rules do not
        # depend on the depths (constructor arguments of DmaMaster, not rtl changes)
        m.submodules.dut = dut = DmaMaster(built, rd_outstanding=2, wr_ahead=2, wr_outstanding=4)
        axi = dut.axi
        aw = p.addr_width

        # ---- upstream streams: free, within the stream rules ------------------------
        def stream_in(name, stream, narrow=False):
            valid = free(m, 1, f"{name}_valid")
            width = len(Value.cast(stream.payload))
            payload = free(m, width, f"{name}_payload")
            if narrow:                  # data words: 8 free bits repeated (W data is passed through)
                payload = free(m, 8, f"{name}_payload").replicate(width // 8)
            m.d.comb += [stream.valid.eq(valid), stream.payload.eq(payload)]
            handshake_hold(m, Assume, go, name, valid, stream.ready, payload)
            return valid, payload
        stream_in("rd_req", dut.rd_req)
        stream_in("wr_req", dut.wr_req)
        wd_valid, _ = stream_in("wr_data", dut.wr_data, narrow=True)
        if self.side == "write":
            m.d.comb += Assume(~dut.rd_req.valid)
        if self.side == "read":
            m.d.comb += [Assume(~dut.wr_req.valid), Assume(~dut.wr_data.valid)]
        # requests of up to 2 * max_burst + 1 beats: every split (one, two and three bursts,
        # with or without a 4 KiB cut) within the depth, and a far smaller search
        with m.If(dut.rd_req.valid):
            m.d.comb += [Assume(dut.rd_req.payload.addr[:3] == 0),
                         Assume(dut.rd_req.payload.beats <= 2 * mb + 1)]
        with m.If(dut.wr_req.valid):
            m.d.comb += [Assume(dut.wr_req.payload.addr[:3] == 0),
                         Assume(dut.wr_req.payload.beats <= 2 * mb + 1)]
        rd_ready = free(m, 1, "rd_data_ready")
        m.d.comb += dut.rd_data.ready.eq(rd_ready)

        # ---- the subordinate -------------------------------------------------------
        awready, wready, arready = free(m, 1, "s_awready"), free(m, 1, "s_wready"), free(m, 1, "s_arready")
        bvalid, bresp = free(m, 1, "s_bvalid"), free(m, 2, "s_bresp")
        rvalid, rresp = free(m, 1, "s_rvalid"), free(m, 2, "s_rresp")
        rdata = free(m, 8, "s_rdata").replicate(p.data_width // 8)   # read data is not checked here
        rlast = free(m, 1, "s_rlast")
        m.d.comb += [axi.awready.eq(awready), axi.arready.eq(arready), axi.bvalid.eq(bvalid),
                     axi.bresp.eq(bresp), axi.bid.eq(0), axi.rvalid.eq(rvalid), axi.rresp.eq(rresp),
                     axi.rdata.eq(rdata), axi.rlast.eq(rlast), axi.rid.eq(0)]

        # what the subordinate sees of the manager (mutant wrappers sit here)
        awvalid, wvalid, wlast, wstrb = Signal(name="o_awvalid"), Signal(name="o_wvalid"), \
            Signal(name="o_wlast"), Signal(len(axi.wstrb), name="o_wstrb")
        w_gate = Signal(name="w_gate")                 # mutant w_waits_aw: W only once its AW is in
        m.d.comb += [awvalid.eq(axi.awvalid), wvalid.eq(axi.wvalid & w_gate), wlast.eq(axi.wlast),
                     wstrb.eq(axi.wstrb), axi.wready.eq(wready & w_gate)]
        arvalid = axi.arvalid
        if self.mutant == "awvalid_drop":
            m.d.comb += awvalid.eq(axi.awvalid & ~(free(m, 1, "mut_glitch") & ~awready))
        if self.mutant == "wlast_early":
            m.d.comb += wlast.eq(axi.wlast | free(m, 1, "mut_wlast"))
        if self.mutant == "lane_shift":
            m.d.comb += wstrb.eq(axi.wstrb.rotate_left(8))

        ar_hs, aw_hs = arvalid & arready, awvalid & awready
        w_hs, r_hs, b_hs = wvalid & wready, rvalid & axi.rready, bvalid & axi.bready
        fatal = dut.fatal

        # ---- beats and bursts owed (the subordinate's obligations rely on them) ---------
        r_owed = Signal(range(4 * 256 + 1), name="r_beats_owed")
        m.d.sync += r_owed.eq(r_owed + Mux(ar_hs, axi.arlen + 1, 0) - r_hs)
        m.d.comb += Assume(~rvalid | (r_owed != 0))
        handshake_hold(m, Assume, go, "R", rvalid, axi.rready, Cat(rdata, rresp, rlast))
        handshake_hold(m, Assume, go, "B", bvalid, axi.bready, bresp)

        # W bursts vs AW bursts: a queue of AW (len, lane) not yet matched by a finished
        # W burst, and at most one finished W burst waiting for its AW
        Q = 4
        lb = max((lanes - 1).bit_length(), 1)
        q_len = Array(Signal(8, name=f"q_len{k}") for k in range(Q))
        q_lane = Array(Signal(lb, name=f"q_lane{k}") for k in range(Q))
        q_rd, q_wr = Signal(range(Q), name="q_rd"), Signal(range(Q), name="q_wr")
        q_n = Signal(range(Q + 1), name="q_n")
        w_cnt = Signal(9, name="w_beats")              # beats of the current W burst so far
        w_lane0 = Signal(lb, name="w_lane0")           # its start lane as implied by the strobes
        w_lane_known = Signal(name="w_lane_known")
        ahead = Signal(name="w_ahead")                 # a finished W burst waits for its AW
        ahead_len, ahead_lane, ahead_lane_known = Signal(8), Signal(lb), Signal()

        # lane of this beat's strobes (one lane at most) and the start lane it implies
        beat_lane = Signal(lb, name="beat_lane")
        lane_hit = Cat(*(wstrb[8 * k:8 * k + 8].any() for k in range(lanes)))
        for k in range(lanes):
            with m.If(lane_hit[k]):
                m.d.comb += beat_lane.eq(k)
        implied = Signal(lb, name="implied_lane0")
        m.d.comb += implied.eq((beat_lane - w_cnt[:lb]) if lanes > 1 else 0)
        with m.If(wvalid & ~fatal):
            m.d.comb += Assert((lane_hit & (lane_hit - 1)) == 0, "W: WSTRB in more than one 64-bit lane")
            with m.If(lane_hit.any() & w_lane_known):
                m.d.comb += Assert(implied == w_lane0, "W: WSTRB lane does not advance one lane a beat")

        # the AW this W burst belongs to, if already accepted
        head_known = q_n != 0
        m.d.comb += w_gate.eq(head_known if self.mutant == "w_waits_aw" else 1)
        head_len, head_lane = q_len[q_rd], q_lane[q_rd]
        with m.If(wvalid & ~fatal & head_known):
            m.d.comb += Assert(wlast == (w_cnt == head_len), "W: WLAST not on beat AWLEN of its burst")
            with m.If(lane_hit.any()):
                m.d.comb += Assert(implied == head_lane, "W: WSTRB outside the lane of the beat's address")
        with m.If(wvalid & ~fatal):
            m.d.comb += Assert(w_cnt < mb, "W: burst longer than max_burst beats")

        pop = Signal(name="q_pop")
        push = Signal(name="q_push")
        lane_now = Mux(w_lane_known, w_lane0, implied)
        known_now = w_lane_known | lane_hit.any()
        aw_lane = axi.awaddr[3:3 + lb] if lanes > 1 else Const(0, lb)
        w_fin = w_hs & wlast & ~fatal                    # a W burst ends this cycle
        aw_in = aw_hs & ~fatal
        direct = w_fin & ~head_known & aw_in & ~ahead     # its AW arrives in the same cycle
        with m.If(w_hs):
            m.d.sync += w_cnt.eq(w_cnt + 1)
            with m.If(lane_hit.any()):
                m.d.sync += [w_lane0.eq(implied), w_lane_known.eq(1)]
            with m.If(wlast):
                m.d.sync += [w_cnt.eq(0), w_lane_known.eq(0)]
        with m.If(w_fin):
            with m.If(head_known):
                m.d.comb += pop.eq(1)
            with m.Elif(direct):
                m.d.comb += Assert(axi.awlen == w_cnt, "W: beats of the burst != AWLEN+1 of its AW")
                with m.If(known_now):
                    m.d.comb += Assert(lane_now == aw_lane, "W: WSTRB outside the lane of the beat's address")
            with m.Else():
                m.d.comb += Assert(~ahead | aw_in, "W: a second W burst finished ahead of its AW")
                m.d.sync += [ahead.eq(1), ahead_len.eq(w_cnt), ahead_lane.eq(lane_now),
                             ahead_lane_known.eq(known_now)]
        with m.If(aw_in):
            with m.If(ahead):
                m.d.comb += Assert(axi.awlen == ahead_len, "W: beats of a burst sent ahead of its AW != AWLEN+1")
                with m.If(ahead_lane_known):
                    m.d.comb += Assert(ahead_lane == aw_lane, "W: WSTRB outside the lane of the beat's address")
                with m.If(~(w_fin & ~head_known)):
                    m.d.sync += ahead.eq(0)
            with m.Elif(~direct):
                m.d.comb += push.eq(1)
        with m.If(push):
            m.d.sync += [q_len[q_wr].eq(axi.awlen), q_lane[q_wr].eq(aw_lane), q_wr.eq(q_wr + 1)]
        with m.If(pop):
            m.d.sync += q_rd.eq(q_rd + 1)
        m.d.sync += q_n.eq(q_n + push - pop)
        m.d.comb += Assert(q_n < Q, "AW: more than 3 bursts ahead of W")
        with m.If(fatal):                                 # abandoned: stop matching
            m.d.sync += [q_n.eq(0), q_rd.eq(0), q_wr.eq(0), ahead.eq(0), w_cnt.eq(0), w_lane_known.eq(0)]

        # B owed: bursts with both AW and last W accepted, minus B handshakes
        b_owed = Signal(range(16), name="b_owed")
        matched = pop | (w_fin & direct) | (aw_in & ahead)    # a burst has both its AW and its W
        m.d.sync += b_owed.eq(Mux(fatal, 0, b_owed + matched - b_hs))
        m.d.comb += Assume(~bvalid | (b_owed != 0))

        # ---- the manager's rules ---------------------------------------------------
        handshake_hold(m, Assert, go, "AR", arvalid, arready,
                       Cat(axi.araddr, axi.arlen, axi.arsize, axi.arburst, axi.arid), unless=fatal)
        handshake_hold(m, Assert, go, "AW", awvalid, awready,
                       Cat(axi.awaddr, axi.awlen, axi.awsize, axi.awburst, axi.awid), unless=fatal)
        handshake_hold(m, Assert, go, "W", wvalid, wready, Cat(axi.wdata, wstrb, wlast), unless=fatal)
        with m.If(fatal):
            m.d.comb += Assert(~arvalid & ~awvalid & ~wvalid, "VALID after the fatal error")
        for ch, valid in (("ar", arvalid), ("aw", awvalid)):
            addr, ln = getattr(axi, ch + "addr"), getattr(axi, ch + "len")
            with m.If(valid):
                m.d.comb += [
                    Assert(getattr(axi, ch + "burst") == BURST_INCR, f"{ch.upper()}: burst not INCR"),
                    Assert(getattr(axi, ch + "size") == 3, f"{ch.upper()}: size not 8 bytes"),
                    Assert(getattr(axi, ch + "id") == 0, f"{ch.upper()}: ID not 0"),
                    Assert(addr[:3] == 0, f"{ch.upper()}: address not 8-byte aligned"),
                    Assert(ln < mb, f"{ch.upper()}: more than max_burst beats"),
                    Assert(addr[3:12] + ln < 512, f"{ch.upper()}: burst crosses 4 KiB"),
                ]
        m.d.comb += [
            Assert(r_owed <= dut.rd_outstanding * mb, "AR: more beats outstanding than rd_outstanding bursts"),
            Assert(b_owed <= dut.wr_outstanding, "AW: more B owed than wr_outstanding"),
            Assert(~bvalid | axi.bready, "B: BREADY low while BVALID"),
        ]
        with m.If(rvalid & (rd_ready | fatal)):
            m.d.comb += Assert(axi.rready, "R: RREADY low while RVALID and the consumer is ready")

        # ---- covers ----------------------------------------------------------------
        n_b = Signal(2, name="cov_b")
        with m.If(b_hs & (n_b != 3)):
            m.d.sync += n_b.eq(n_b + 1)
        n_r = Signal(4, name="cov_r")
        with m.If(r_hs & (n_r != 15)):
            m.d.sync += n_r.eq(n_r + 1)
        cross = Signal(name="cov_split_4k")               # two bursts, the second at a 4 KiB boundary
        with m.If(aw_hs & (axi.awaddr[:12] == 0) & (q_n != 0)):
            m.d.sync += cross.eq(1)
        if self.side in ("both", "write"):
            m.d.comb += [
                *([] if self.w_first else [Cover(go & pop & (head_len == mb - 1))]),  # a full-length W burst matched
                Cover(aw_hs & ahead),                             # W finished before its AW
                *([] if self.w_first else [Cover(cross)]),        # a write split at 4 KiB
                Cover(b_hs & (n_b == 1)),                         # two writes answered
                Cover(fatal & ~dut.err_timeout),                  # a write error
            ]
        if self.side in ("both", "read"):
            m.d.comb += [
                Cover(n_r == 6),                                  # six R beats
                Cover(go & past(m, arvalid & ~arready, "cov_ar_wait") & ar_hs),
                Cover(ar_hs & (axi.araddr[:12] == 0xFF8)),        # a one-beat burst before 4 KiB
            ]
        if not self.w_first:
            m.d.comb += Cover(fatal & dut.err_timeout)            # a timeout
        if lanes > 1 and self.side != "read":
            m.d.comb += Cover(w_hs & (beat_lane == lanes - 1) & wstrb.any())
        if self.w_first:
            self._w_first(m, axi, awvalid, awready, wvalid, w_hs, wlast, head_known, ahead, wd_valid, wready)
        return m

    def _w_first(self, m, axi, awvalid, awready, wvalid, w_hs, wlast, head_known, ahead, wd_valid, wready):
        """AWREADY only once the burst's W is complete; W producer eager, W always ready."""
        mb = self.params.max_burst
        m.d.comb += [Assume(wd_valid), Assume(wready), Assume(awready == ahead)]
        wait = Signal(range(64), name="aw_wait")
        m.d.sync += wait.eq(Mux(awvalid & ~awready, wait + 1, 0))
        m.d.comb += Assert(wait <= mb + 2, "AW waited longer than a W burst: W is waiting for AWREADY")
        m.d.comb += Cover(awvalid & awready & (axi.awlen == mb - 1))


READ_DEPTH = WRITE_DEPTH = W_FIRST_DEPTH = 30
WHY = ("BMC, not k-induction: the harness's burst bookkeeping and the master's internal "
       "FIFOs are not related by the port properties, so induction meets unreachable states "
       "(abc pdr, IC3, ran 32 frames of the both-sides harness in 8 minutes without "
       "converging). {d} cycles with abc bmc3 (SAT-based BMC; smtbmc with yices grows about "
       "1.5x a step and reached step 25 of the read side after 9 minutes): several 4-beat "
       "bursts per channel with back-pressure, a 4 KiB split, W ahead of AW and the 6-cycle "
       "timeout")

# Seconds measured for the main run at depth 30 (session 14; the cover and the mutants add
# under a minute): only the order `--jobs` starts them in.
COST = {("read", 64): 622, ("write", 64): 393, ("read", 128): 771, ("write", 128): 515,
        ("read", 256): 598, ("write", 256): 815, ("read", 512): 1400, ("write", 512): 760}


def proofs(Proof):
    out = []
    for width in (64, 128, 256, 512):
        for side, depth, names in (("read", READ_DEPTH, ("burst_too_long",)),
                                   ("write", WRITE_DEPTH, ("awvalid_drop", "wlast_early", "lane_shift"))):
            muts = {k: MUTANTS[k] for k in names if k != "lane_shift" or width > 64}
            out.append(Proof(f"dma_{side}_{width}",
                             (lambda w, s: lambda mutant=None: DmaPortHarness(w, mutant, side=s))(width, side),
                             "bmc", depth, 12, muts, quick=False, mutant_depth=10, why=WHY.format(d=depth),
                             engine="abc bmc3", cost=COST[side, width]))
    out.append(Proof("dma_w_first", lambda mutant=None: DmaPortHarness(64, mutant, w_first=True, side="write"),
                     "bmc", W_FIRST_DEPTH, 12, W_FIRST_MUTANTS, mutant_depth=12, engine="abc bmc3", cost=40,
                     why="bounded liveness (no AWVALID waits longer than a W burst); " + WHY.format(d=W_FIRST_DEPTH)))
    out.append(Proof("dma_quick_64", lambda mutant=None: DmaPortHarness(64, mutant, side="both"),
                     "bmc", 8, 12, {"awvalid_drop": MUTANTS["awvalid_drop"]}, quick=True, mutant_depth=8,
                     why="the short-depth DMA proof of `make test` (both sides at once); the deep ones are in make formal"))
    return out
