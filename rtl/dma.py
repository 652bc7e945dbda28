"""The engine's AXI4 DMA master: request streams in, AXI4 bursts out.

Read side:  `rd_req` {addr, beats} -> AR bursts -> R -> `rd_data` {data, last, err}.
Write side: `wr_req` {addr, beats, first_strb, last_strb} + `wr_data` beats -> AW/W -> B.

The engine's datapath moves 8 bytes a beat. On a wider bus (`params.data_width` 128,
256 or 512) every burst is a *narrow* burst (AxSIZE = 3, 8-byte beats): beat k of a
burst at address A uses the byte lanes of address A + 8k, i.e. 64-bit lane
(A / 8 + k) mod (data_width / 64); W data is replicated to every lane and WSTRB
enables only that lane's bytes, R data is taken from that lane. Any AXI4 subordinate
must accept narrow bursts, so the engine connects to a 128..512-bit interconnect or
PCIe DMA bridge without a width converter; its bandwidth stays 8 bytes a cycle.

Every request is cut into INCR bursts of at most `params.max_burst` 8-byte beats that
never cross a 4 KiB boundary; every transaction uses ID 0, so AXI keeps reads and
writes each in order and a single FIFO of outstanding bursts per side is enough.
Addresses must be 8-byte aligned (the low three address bits are passed through as
given, so an unaligned address is the caller's bug). A request with beats=0 is
accepted and does nothing.

Members (payload layouts: `read_req_layout`, `READ_BEAT`, `write_req_layout` below)
  rd_req   In  stream {addr, beats}: read `beats` 8-byte beats from addr
  rd_data  Out stream {data, last, err}: exactly `beats` beats per request, in request
           order; last marks a request's final beat, err a bad (or abandoned) beat
  wr_req   In  stream {addr, beats, first_strb, last_strb}: strobes of the first and
           last beat (both apply to a single beat), 0xFF in between
  wr_data  In  stream of 64-bit beats for the write jobs, in job order
  rd_idle / wr_idle  nothing offered, queued or in flight on that side, and (write)
           every B received: wr_idle is the write fence before a completion entry
  rd_error, wr_error, fatal  sticky; err_addr (start address of the failed burst),
           err_resp, err_write, err_timeout describe the latest report, announced by
           the one-cycle err_event pulse
  drain    In: finish what is owed on the bus and start nothing new (CTRL.RESET;
           held until the reset). An AR or AW already asserted stays until its READY;
           R beats still owed are taken and dropped (rd_data delivers nothing); the
           splitter's head burst, if its AW or its W is under way, is finished on both
           channels; W beats not yet on the bus go out with WSTRB 0 (the upstream data
           is not awaited: a stalled producer cannot hold up the reset), a beat already
           asserted stays as it was; every B is awaited. The timeouts still run: a bus
           that stops answering ends the drain at `fatal`.
  drained  Out: draining and nothing owed on either channel (or fatal)

AW and W are independent, as AXI4 requires of a manager (A3.3.1): each burst from the
splitter goes to the AW channel and to a queue of up to `wr_ahead` bursts for the W
channel, each side taking it when it can, so W never waits for AWREADY (a subordinate
may wait for WVALID before it asserts AWREADY) and AW may run up to `wr_ahead` bursts
ahead of W; W streams without gaps across bursts and jobs. At most `wr_outstanding`
bursts wait for B.

Errors
------
* Read SLVERR/DECERR: not fatal. The affected beats carry err=1, `rd_error` is set
  and `err_*` report the burst (one `err_event` per failed burst); reading goes on.
* Write SLVERR/DECERR, or a timeout on either side (an outstanding transaction made
  no progress for `params.dma_timeout` cycles): fatal. `wr_error` or `rd_error`,
  `fatal` and `err_*` are set and `err_event` pulses once. From then on the master
  completes everything locally and never drives AR/AW/W valid again (an address
  still pending on the bus is abandoned, which AXI only tolerates because the bus
  is considered dead): rready/bready stay high and whatever still arrives is
  dropped; every read beat still owed (in flight or requested later) is delivered
  with err=1 and data 0; write jobs and their wr_data beats are accepted and
  dropped; `wr_idle` returns to 1. So nothing upstream ever hangs. The sticky flags
  clear only with the domain reset.

Upstream streams follow the `amaranth.lib.stream` rules (valid held until ready,
payload stable while valid): W beats are wr_data beats passed straight through, so
the AXI W-channel rules hold exactly when the wr_data producer keeps the stream rules.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams

from .axi import AxiSignature, BURST_INCR

SIZE_8 = 3           # AxSIZE for 8-byte beats
CACHE_NORMAL = 0b0011  # normal non-cacheable bufferable


def read_req_layout(addr_width):
    return data.StructLayout({"addr": addr_width, "beats": 16})


def write_req_layout(addr_width):
    return data.StructLayout({"addr": addr_width, "beats": 16, "first_strb": 8, "last_strb": 8})


READ_BEAT = data.StructLayout({"data": 64, "last": 1, "err": 1})


class BurstSplitter(wiring.Component):
    """Cuts requests into bursts of at most `max_burst` beats that never cross 4 KiB.

    Ports: `req` In stream {addr, beats[, tag]}; `burst` Out stream {addr, len, first,
    last[, tag]} (len = beats - 1); `busy` Out: a request is held, being cut, or a burst
    waits.

    One burst per cycle, including back-to-back single-beat requests; a request's first
    burst leaves two cycles after the request is taken (a taken request waits one cycle
    in the input register while its cut is computed). `tag` rides along unchanged;
    `first`/`last` mark the request's first and last burst. The output is registered so
    AR/AW can be driven straight from it, with one skid entry behind it: bursts are made
    while the skid is empty, so `burst.ready` reaches no further than the output register.

    Timing: every value a burst needs is a register, computed a burst ahead with one
    short carry chain at most. Every burst but a request's last is `cap` =
    min(beats to the 4 KiB boundary, max_burst) beats long, so the next address is the
    low bits plus `cap` and the high bits plus `crosses` (the burst ends on the
    boundary). The input register holds the request's beats-to-boundary, cap, crosses and
    whether one burst takes it all; the job holds this burst's cap and crosses, the next
    burst's beats-to-boundary, cap and crosses (512 after a crossing, else minus
    max_burst), the beats left and the beats beyond this burst (`slack`): the next burst
    is the last when slack <= the next cap.
    """

    def __init__(self, addr_width, max_burst, tag_width=0):
        assert 1 <= max_burst <= 256
        self.max_burst = max_burst
        self.tag_width = tag_width
        tag = {"tag": tag_width} if tag_width else {}    # no zero-width wires in Verilog
        super().__init__({
            "req": In(stream.Signature(data.StructLayout(
                {"addr": addr_width, "beats": 16, **tag}))),
            "burst": Out(stream.Signature(data.StructLayout(
                {"addr": addr_width, "len": 8, "first": 1, "last": 1, **tag}))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        req, out = self.req, self.burst
        mb = self.max_burst
        aw = len(req.payload.addr)

        def regs(name, **shapes):
            return {k: Signal(v, name=f"{name}_{k}") for k, v in shapes.items()}

        def following(to_4k, crosses):
            """(beats to the boundary, cap, crosses) of the burst after a full `cap` one."""
            t = Signal(range(513))
            m.d.comb += t.eq(Mux(crosses, 512, to_4k - mb))
            x = ~crosses & (to_4k <= 2 * mb)             # t <= mb, from the register itself
            return t, Mux(x, to_4k - mb, mb), x

        # --- input register: the request and its cut -------------------------------
        p = regs("in", valid=1, addr=aw, beats=16, tag=max(self.tag_width, 1), to_4k=range(513),
                 cap=range(257), crosses=1, last=1)
        a9 = req.payload.addr[3:12]
        beats = req.payload.beats
        in_crosses = a9 >= 512 - min(mb, 512)             # 512 - a9 <= max_burst
        # --- the job: the request being cut ----------------------------------------
        j = regs("job", valid=1, addr=aw, left=16, slack=17, first=1, tag=max(self.tag_width, 1),
                 cap=range(257), crosses=1, last=1, to_4k1=range(513), cap1=range(257), crosses1=1)

        # The output register and a skid entry behind it: a burst is made whenever the skid
        # is empty (a registered fact), so `burst.ready` (AWREADY, the W queue) reaches only
        # the output's own load, not the cut or the input register.
        skid_valid = Signal()
        skid = Signal.like(out.payload, name="skid")
        take = j["valid"] & ~skid_valid
        job_free = ~j["valid"] | (take & j["last"])
        p_move = p["valid"] & job_free
        m.d.comb += req.ready.eq(~p["valid"] | p_move)

        made = Signal.like(out.payload, name="made")        # the burst made this cycle
        m.d.comb += [
            made.addr.eq(j["addr"]),
            made.len.eq(Mux(j["last"], j["left"][:8] - 1, j["cap"] - 1)),
            made.first.eq(j["first"]),
            made.last.eq(j["last"]),
        ]
        if self.tag_width:
            m.d.comb += made.tag.eq(j["tag"])
        with m.If(~out.valid | out.ready):
            with m.If(skid_valid):
                m.d.sync += [out.payload.eq(skid), skid_valid.eq(0)]
            with m.Elif(take):
                m.d.sync += [out.valid.eq(1), out.payload.eq(made)]
            with m.Else():
                m.d.sync += out.valid.eq(0)
        with m.Elif(take):
            m.d.sync += [skid.eq(made), skid_valid.eq(1)]

        with m.If(take):
            t2, cap2, x2 = following(j["to_4k1"], j["crosses1"])
            m.d.sync += [
                j["addr"][3:12].eq(j["addr"][3:12] + j["cap"]),
                j["addr"][12:].eq(j["addr"][12:] + j["crosses"]),
                j["left"].eq(j["slack"]),
                j["slack"].eq(j["slack"] - j["cap1"]),
                j["last"].eq(j["slack"] <= j["cap1"]),
                j["first"].eq(0),
                j["cap"].eq(j["cap1"]), j["crosses"].eq(j["crosses1"]),
                j["to_4k1"].eq(t2), j["cap1"].eq(cap2), j["crosses1"].eq(x2),
            ]
            with m.If(j["last"]):
                m.d.sync += j["valid"].eq(0)

        with m.If(p_move):
            t1, cap1, x1 = following(p["to_4k"], p["crosses"])
            m.d.sync += [
                p["valid"].eq(0),
                j["valid"].eq(p["beats"] != 0),
                j["addr"].eq(p["addr"]), j["left"].eq(p["beats"]), j["slack"].eq(p["beats"] - p["cap"]),
                j["first"].eq(1), j["tag"].eq(p["tag"]),
                j["cap"].eq(p["cap"]), j["crosses"].eq(p["crosses"]), j["last"].eq(p["last"]),
                j["to_4k1"].eq(t1), j["cap1"].eq(cap1), j["crosses1"].eq(x1),
            ]
        with m.If(req.valid & req.ready):
            m.d.sync += [
                p["valid"].eq(1), p["addr"].eq(req.payload.addr), p["beats"].eq(beats),
                p["to_4k"].eq(512 - a9), p["crosses"].eq(in_crosses),
                p["cap"].eq(Mux(in_crosses, 512 - a9, mb)),
                # beats <= min(512 - a9, max_burst), as two compares side by side
                p["last"].eq((beats <= mb) & (beats[:9] + a9 <= 512)),
            ]
            if self.tag_width:
                m.d.sync += p["tag"].eq(req.payload.tag)
        m.d.comb += self.busy.eq(p["valid"] | j["valid"] | out.valid | skid_valid)
        return m


class DmaMaster(wiring.Component):
    """AXI4 DMA master (8-byte beats on a 64..512-bit bus, ID 0, INCR). See the module
    docstring for behaviour.

    rd_outstanding: read bursts AR may run ahead of R.
    wr_ahead:       write bursts queued for the W channel (AW may run this far ahead of W).
    wr_outstanding: write bursts whose B is still owed (bounds the B address FIFO).
    """

    def __init__(self, params: EngineParams = EngineParams(), *,
                 rd_outstanding=4, wr_ahead=4, wr_outstanding=16):
        self.params = params
        self.lanes = params.data_width // 64          # 64-bit lanes of the AXI data bus
        self.lane_bits = (self.lanes - 1).bit_length()
        self.rd_outstanding = rd_outstanding
        self.wr_ahead = wr_ahead
        self.wr_outstanding = wr_outstanding
        aw = params.addr_width
        self.read_req_layout = read_req_layout(aw)
        self.write_req_layout = write_req_layout(aw)
        super().__init__({
            "axi": Out(AxiSignature(aw, params.data_width)),
            "rd_req": In(stream.Signature(self.read_req_layout)),
            "rd_data": Out(stream.Signature(READ_BEAT)),
            "wr_req": In(stream.Signature(self.write_req_layout)),
            "wr_data": In(stream.Signature(64)),
            "rd_idle": Out(1),
            "wr_idle": Out(1),
            "rd_error": Out(1),
            "wr_error": Out(1),
            "fatal": Out(1),
            "err_addr": Out(aw),
            "err_resp": Out(2),
            "err_write": Out(1),
            "err_timeout": Out(1),
            "err_event": Out(1),
            "drain": In(1),
            "drained": Out(1),
        })

    def _timeout(self, m, stalled, name):
        """True in the `dma_timeout`-th consecutive cycle of `stalled` (owed progress
        that did not come). The count is compared a cycle ahead, into a register, so the
        pulse is that register and this cycle's `stalled` (no counter compare behind it)."""
        timer = Signal(range(self.params.dma_timeout + 1), name=name)
        due = Signal(name=f"{name}_due")               # the last cycle was stalled cycle T - 1
        m.d.sync += [timer.eq(Mux(stalled, timer + 1, 0)),
                     due.eq(stalled & (timer == self.params.dma_timeout - 2))]
        return stalled & due

    def elaborate(self, platform):
        m = Module()
        p = self.params
        axi = self.axi
        aw = p.addr_width
        fatal = self.fatal

        # constant attributes of every transaction
        for ch in ("ar", "aw"):
            m.d.comb += [
                getattr(axi, ch + "id").eq(0),
                getattr(axi, ch + "size").eq(SIZE_8),
                getattr(axi, ch + "burst").eq(BURST_INCR),
                getattr(axi, ch + "lock").eq(0),
                getattr(axi, ch + "cache").eq(CACHE_NORMAL),
                getattr(axi, ch + "prot").eq(0),
            ]

        # error reports of this cycle; later m.If blocks take priority
        ev = Signal()
        ev_fatal = Signal()
        ev_addr = Signal(aw)
        ev_resp = Signal(2)
        ev_write = Signal()
        ev_timeout = Signal()

        def report(addr, resp, write, timeout, is_fatal):
            return [ev.eq(1), ev_addr.eq(addr), ev_resp.eq(resp), ev_write.eq(write),
                    ev_timeout.eq(timeout), ev_fatal.eq(is_fatal)]

        # ---------------------------------------------------------------- read side
        m.submodules.rd_split = rs = BurstSplitter(aw, p.max_burst)
        m.d.comb += [
            rs.req.valid.eq(self.rd_req.valid),
            rs.req.payload.addr.eq(self.rd_req.payload.addr),
            rs.req.payload.beats.eq(self.rd_req.payload.beats),
            self.rd_req.ready.eq(rs.req.ready),
        ]

        # bursts issued on AR whose beats are still owed to rd_data, oldest first
        rinfo = data.StructLayout({"addr": aw, "len": 8, "last": 1})
        m.submodules.rd_fifo = rf = SyncFIFO(width=rinfo.size, depth=self.rd_outstanding)
        ar = rs.burst
        drain = self.drain
        # draining: only an AR already on the bus (VALID without READY last cycle) goes on
        ar_held = Signal()
        ar_may = ar.valid & rf.w_rdy & (~drain | ar_held)
        ar_issue = ar_may & (axi.arready | fatal)   # after a fatal error: locally
        m.d.sync += ar_held.eq(axi.arvalid & ~axi.arready)
        m.d.comb += [
            axi.araddr.eq(ar.payload.addr),
            axi.arlen.eq(ar.payload.len),
            axi.arvalid.eq(ar_may & ~fatal),
            ar.ready.eq(ar_issue),
            rf.w_en.eq(ar_issue),
        ]
        rf_in = rinfo(Signal(rinfo.size))
        m.d.comb += [
            rf_in.addr.eq(ar.payload.addr),
            rf_in.len.eq(ar.payload.len),
            rf_in.last.eq(ar.payload.last),
        ]
        m.d.comb += rf.w_data.eq(rf_in.as_value())

        rhead = rinfo(rf.r_data)
        rbeat = Signal(8)
        r_last_beat = rbeat == rhead.len
        r_bad = axi.rresp[1]                      # SLVERR or DECERR
        lb = self.lane_bits
        rword = axi.rdata
        if lb:                                    # narrow burst: this beat's lane
            r_lane = Signal(lb)
            m.d.comb += r_lane.eq(rhead.addr[3:3 + lb] + rbeat)
            rword = axi.rdata.word_select(r_lane, 64)
        m.d.comb += [
            # draining: every R beat owed is taken and dropped, none is delivered
            self.rd_data.valid.eq(rf.r_rdy & (axi.rvalid | fatal) & ~drain),
            self.rd_data.payload.data.eq(Mux(fatal, 0, rword)),
            self.rd_data.payload.err.eq(fatal | r_bad),
            self.rd_data.payload.last.eq(rhead.last & r_last_beat),
            axi.rready.eq(fatal | drain | (rf.r_rdy & self.rd_data.ready)),   # drain when dead
        ]
        r_done = Mux(drain, rf.r_rdy & (axi.rvalid | fatal), self.rd_data.valid & self.rd_data.ready)
        with m.If(r_done):
            m.d.sync += rbeat.eq(rbeat + 1)
            with m.If(r_last_beat):
                m.d.sync += rbeat.eq(0)
                m.d.comb += rf.r_en.eq(1)

        # one report per failed read burst
        r_err_seen = Signal()
        r_err_beat = r_done & ~fatal & r_bad
        with m.If(r_done):
            with m.If(r_last_beat):
                m.d.sync += r_err_seen.eq(0)
            with m.Elif(r_err_beat):
                m.d.sync += r_err_seen.eq(1)
        with m.If(r_err_beat):
            m.d.sync += self.rd_error.eq(1)
            with m.If(~r_err_seen):
                m.d.comb += report(rhead.addr, axi.rresp, 0, 0, 0)

        # read timeout: the bus owes us an AR handshake or R data and gives neither
        rd_wait = (axi.arvalid & ~axi.arready) | (rf.r_rdy & ~axi.rvalid)
        rd_prog = (axi.arvalid & axi.arready) | axi.rvalid
        rd_timeout = self._timeout(m, ~fatal & rd_wait & ~rd_prog, "rd_timer")
        with m.If(rd_timeout):
            m.d.sync += self.rd_error.eq(1)
            m.d.comb += report(Mux(rf.r_rdy, rhead.addr, ar.payload.addr), 0, 0, 1, 1)

        m.d.comb += self.rd_idle.eq(~self.rd_req.valid & ~rs.busy & ~rf.r_rdy)

        # --------------------------------------------------------------- write side
        m.submodules.wr_split = ws = BurstSplitter(aw, p.max_burst, tag_width=16)
        m.d.comb += [
            ws.req.valid.eq(self.wr_req.valid),
            ws.req.payload.addr.eq(self.wr_req.payload.addr),
            ws.req.payload.beats.eq(self.wr_req.payload.beats),
            ws.req.payload.tag.eq(self.wr_req.payload.first_strb
                                  | (self.wr_req.payload.last_strb << 8)),
            self.wr_req.ready.eq(ws.req.ready),
        ]

        # bursts whose W beats are still to send (strobes resolved per burst)
        winfo = data.StructLayout({"len": 8, "first_strb": 8, "last_strb": 8,
                                   **({"lane": lb} if lb else {})})
        # buffered: the head burst comes from flops (its len meets the beat counter, then B)
        m.submodules.w_fifo = wf = SyncFIFOBuffered(width=winfo.size, depth=self.wr_ahead)
        # addresses of bursts accepted on AW whose B is still owed, oldest first
        m.submodules.b_fifo = bf = SyncFIFO(width=aw, depth=self.wr_outstanding)

        # each burst forks to AW and to the W queue, independently: W never waits for
        # AWREADY (AXI4 A3.3.1; a subordinate may wait for WVALID before AWREADY)
        awb = ws.burst
        aw_sent = Signal()                        # this burst's AW is done (or dropped: fatal)
        w_queued = Signal()                       # this burst is in the W queue
        aw_held = Signal()                        # AWVALID without AWREADY last cycle
        m.d.sync += aw_held.eq(axi.awvalid & ~axi.awready)
        # draining: a burst half on its way (AW on the bus or sent, or its W queued) is
        # finished on both channels; a burst not started is not started
        aw_may = awb.valid & ~aw_sent & (~drain | w_queued | aw_held)
        aw_issue = aw_may & (fatal | (bf.w_rdy & axi.awready))
        w_issue = awb.valid & ~w_queued & wf.w_rdy & (~drain | aw_sent | aw_held)
        burst_done = (aw_sent | aw_issue) & (w_queued | w_issue)
        with m.If(burst_done):
            m.d.sync += [aw_sent.eq(0), w_queued.eq(0)]
        with m.Else():
            m.d.sync += [aw_sent.eq(aw_sent | aw_issue), w_queued.eq(w_queued | w_issue)]
        wf_in = winfo(Signal(winfo.size))
        m.d.comb += [
            axi.awaddr.eq(awb.payload.addr),
            axi.awlen.eq(awb.payload.len),
            axi.awvalid.eq(aw_may & bf.w_rdy & ~fatal),
            awb.ready.eq(burst_done),
            wf_in.len.eq(awb.payload.len),
            wf_in.first_strb.eq(Mux(awb.payload.first, awb.payload.tag[0:8], 0xFF)),
            wf_in.last_strb.eq(Mux(awb.payload.last, awb.payload.tag[8:16], 0xFF)),
            wf.w_data.eq(wf_in.as_value()),
            wf.w_en.eq(w_issue),
            bf.w_data.eq(awb.payload.addr),
            bf.w_en.eq(aw_issue & ~fatal),
        ]

        whead = winfo(wf.r_data)
        wbeat = Signal(8)
        w_last_beat = wbeat == whead.len
        strb = Signal(8)
        # draining: the beats still owed to queued bursts go out with no byte enabled
        # (the upstream data is not awaited), except a beat already on the bus, which
        # must stay as it was until WREADY
        w_real_held = Signal()
        w_dummy = drain & ~w_real_held
        m.d.comb += strb.eq(Mux(w_dummy, 0, Mux(wbeat == 0, whead.first_strb, 0xFF)
                                & Mux(w_last_beat, whead.last_strb, 0xFF)))
        if lb:                                    # narrow burst: this beat's lane only
            w_lane = Signal(lb)
            m.d.comb += [wf_in.lane.eq(awb.payload.addr[3:3 + lb]),
                         w_lane.eq(whead.lane + wbeat),
                         axi.wdata.eq(Mux(w_dummy, 0, self.wr_data.payload).replicate(self.lanes)),
                         axi.wstrb.eq(strb << (w_lane * 8))]
        else:
            m.d.comb += [axi.wdata.eq(Mux(w_dummy, 0, self.wr_data.payload)), axi.wstrb.eq(strb)]
        m.d.comb += [
            axi.wvalid.eq(wf.r_rdy & (self.wr_data.valid | w_dummy) & ~fatal),
            axi.wlast.eq(w_last_beat),
            self.wr_data.ready.eq(wf.r_rdy & ~w_dummy & (axi.wready | fatal)),   # drop data when dead
        ]
        m.d.sync += w_real_held.eq(axi.wvalid & ~axi.wready & ~w_dummy)
        w_done = Mux(w_dummy, axi.wvalid & axi.wready, self.wr_data.valid & self.wr_data.ready)
        with m.If(w_done):
            m.d.sync += wbeat.eq(wbeat + 1)
            with m.If(w_last_beat):
                m.d.sync += wbeat.eq(0)
                m.d.comb += wf.r_en.eq(1)

        # B: always ready; a response without an owed burst is ignored
        m.d.comb += axi.bready.eq(1)
        b_take = axi.bvalid & bf.r_rdy & ~fatal
        with m.If(fatal):
            m.d.comb += bf.r_en.eq(bf.r_rdy)          # forget owed responses
        with m.Else():
            m.d.comb += bf.r_en.eq(b_take)

        # bursts fully sent on W whose B is owed: only these may time out on B
        b_due = Signal(range(self.wr_outstanding + 1))
        w_burst_done = w_done & w_last_beat & ~fatal
        b_due_dec = b_take & (b_due != 0)
        with m.If(fatal):
            m.d.sync += b_due.eq(0)
        with m.Elif(w_burst_done & ~b_due_dec):
            m.d.sync += b_due.eq(b_due + 1)
        with m.Elif(~w_burst_done & b_due_dec):
            m.d.sync += b_due.eq(b_due - 1)

        wr_wait = ((axi.awvalid & ~axi.awready) | (axi.wvalid & ~axi.wready)
                   | ((b_due != 0) & ~axi.bvalid))
        wr_prog = (axi.awvalid & axi.awready) | (axi.wvalid & axi.wready) | axi.bvalid
        wr_timeout = self._timeout(m, ~fatal & wr_wait & ~wr_prog, "wr_timer")
        with m.If(wr_timeout):
            m.d.sync += self.wr_error.eq(1)
            m.d.comb += report(Mux(bf.r_rdy, bf.r_data, awb.payload.addr), 0, 1, 1, 1)

        b_bad = b_take & axi.bresp[1]
        with m.If(b_bad):
            m.d.sync += self.wr_error.eq(1)
            m.d.comb += report(bf.r_data, axi.bresp, 1, 0, 1)

        # the W queue by its level: a buffered FIFO shows an entry on r_rdy a cycle after it has it
        m.d.comb += self.wr_idle.eq(~self.wr_req.valid & ~ws.busy & (wf.level == 0) & ~bf.r_rdy)

        # drained: nothing owed on the bus in either direction (or the bus is dead)
        rd_quiet = ~axi.arvalid & ~rf.r_rdy
        wr_quiet = (~axi.awvalid & ~(awb.valid & (aw_sent | w_queued)) & (wf.level == 0) & ~bf.r_rdy)
        m.d.comb += self.drained.eq(drain & (fatal | (rd_quiet & wr_quiet)))

        # ------------------------------------------------------------ error capture
        m.d.sync += self.err_event.eq(ev)
        with m.If(ev):
            m.d.sync += [
                self.err_addr.eq(ev_addr),
                self.err_resp.eq(ev_resp),
                self.err_write.eq(ev_write),
                self.err_timeout.eq(ev_timeout),
            ]
            with m.If(ev_fatal):
                m.d.sync += fatal.eq(1)
        return m
