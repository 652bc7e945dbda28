"""The command engine: fetches commands in ring order and routes each to the flow that
runs it; writes the completions.

One command at a time, in ring order (docs/interface.md, "Commands"). This module is the
command router, a small FSM: it fetches and decodes the command, refuses what is malformed,
starts OFFLOAD, POST, UPDATE (rtl/offload.py, post.py, update.py), QUERY and TERMINATE
(rtl/listflow.py) or a scrubber finding (rtl/scrubfind.py) in their own FSMs, and hands
their results, and the events they ask for, to the ring writer (rtl/ringwriter.py).

The stages around them are wired here: the read collector (host reads), EntryAdmit (list
entries), the RowReader (rows), the request walker (request lists), and register slices in
front of the emitter and the DMA read channel. Every memory access goes through a flow's or
a stage's table port (rtl/portmux.py merges them); every host write through the emitter.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import (EngineParams, Opcode, ErrorCode, ERROR_STATUS, NdisStatus, ObjType,
                              COMMAND, NO_INDEX, MAX_LIST_ENTRIES)
from chimney.contract.rows import TAG_BITS
from chimney.contract.windows import list_span, load_span, ring_span, RING_ENTRY_BYTES

from .collector import ReadCollector
from .dma import read_req_layout, READ_BEAT as ReadBeat
from .emitter import EmitKind, emit_layout, ROW_SLOTS, SLOT_SEL_BITS
from .flow import FLOW_DONE
from .fsmguard import StateGuard
from .listflow import ListFlow
from .offload import OffloadFlow
from .post import PostFlow
from .update import UpdateFlow
from .scrubfind import ScrubFindings, SCRUB_REPORT
from .ringwriter import RingJob, RingWriter, ring_job_layout
from .portmux import merge_table_clients
from .admit import EntryAdmit
from .rowreader import ROW_REQ, RowReader
from .walker import RequestWalker
from .skid import skid
from .tables import tables_signature
from .pack import offer
from .windows import EntryWindows, any_inside, windows_layout

__all__ = ["CommandEngine"]


class CommandEngine(wiring.Component):
    """The command router and its stages. See the module docstring and docs/architecture.md."""

    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        aw = params.addr_width
        super().__init__({
            # control (from CSR)
            "ctrl_we": In(1), "ctrl_enable": In(1),
            "cmdq_base": In(64), "cmdq_log2": In(4), "cmdq_prod": In(16), "cmdq_prod_we": In(1),
            "cplq_base": In(64), "cplq_log2": In(4), "cplq_cons": In(16), "cplq_cons_we": In(1),
            "evtq_base": In(64), "evtq_log2": In(4), "evtq_cons": In(16), "evtq_cons_we": In(1),
            "windows": In(windows_layout(params)),
            # status (to CSR)
            "cmdq_cons": Out(16), "cplq_prod": Out(16), "evtq_prod": Out(16),
            "enabled": Out(1), "busy": Out(1), "halted": Out(1), "ready": Out(1),
            "cmd_count": Out(32), "quarantined": Out(32),
            "irq_cpl": Out(1), "irq_evt": Out(1), "err_set": Out(32),
            # tables
            "tables": Out(tables_signature(params)),
            "tables_init": Out(1), "tables_ready": In(1),
            "crc_fail": Out(1), "crc_mem": Out(5), "crc_addr": Out(24),
            "scrub_grant": Out(1), "scrub_busy": In(1),
            "scrub_report": In(stream.Signature(SCRUB_REPORT)),
            # host memory
            "rd_req": Out(stream.Signature(read_req_layout(aw))),
            "rd_data": In(stream.Signature(ReadBeat)),
            "emit": Out(stream.Signature(emit_layout(aw))),
            "rec": Out(stream.Signature(64)),
            "slot_we": Out(1), "slot_sel": Out(SLOT_SEL_BITS), "slot_word": Out(4), "slot_data": Out(64),
            "slot_busy": In(ROW_SLOTS), "fence_done": In(1),
            "dma_fatal": In(1),
        })
        # the DMA windows latched at CTRL.ENABLE (a register; the protocol monitors read it
        # to check every AR and AW against it)
        self.win = Signal(windows_layout(params), name="win")

    def elaborate(self, platform):
        m = Module()
        d = _Datapath(self, m)
        guard = StateGuard(m, "engine")      # guard.m: m, but every `next =` also records its code
        with m.FSM(name="engine") as fsm:
            _control_states(guard.m, d)
            _dispatch_states(guard.m, d)
        self._guard(m, d, guard.seal(fsm, "INIT"))
        # registers a fault campaign may corrupt (recorded in the Verilog name map)
        self._probes = {"engine.state": (fsm.state, dict(fsm.encoding)),
                        "engine.state_check": (guard.reg, None)}
        self._flows = d.flows
        return m

    @property
    def probes(self):
        """{name: (register, state encoding or None)} a fault campaign may corrupt: the
        router's state and check registers, and each flow's state once it is elaborated."""
        out = dict(self._probes)
        for flow in self._flows:
            if hasattr(flow, "fsm"):
                out[f"{flow.NAME}.state"] = (flow.fsm.state, dict(flow.fsm.encoding))
        return out

    def _guard(self, m, d, own_upset):
        """A state register that no longer matches its check register (an upset: the
        router's or a flow's, rtl/fsmguard.py) freezes the engine in the same cycle: no
        table write, no DMA request, no emit, no interrupt; then HALTED and
        ERR_STATUS.INTERNAL. Everything already queued to the emitter was decided before
        the upset and still goes out."""
        upset = Signal()
        dead = Signal()
        m.d.comb += upset.eq(own_upset | Cat(f.upset for f in d.flows).any())
        with m.If(upset | dead):
            for port in (getattr(self.tables, name) for name in tables_signature(self.params).members):
                m.d.comb += [port.rd_en.eq(0), port.wr_en.eq(0)]
            # what is in the output slices was decided before the upset and still goes out
            m.d.comb += [d.emit_slice.i.valid.eq(0), d.rec_slice.i.valid.eq(0), d.rd_src.valid.eq(0),
                         self.slot_we.eq(0), self.irq_cpl.eq(0), self.irq_evt.eq(0),
                         self.tables_init.eq(0), self.crc_fail.eq(0), self.scrub_grant.eq(0),
                         self.scrub_report.ready.eq(0), d.col.start.eq(0),
                         d.writer.req.valid.eq(0)]
            # (the writer's emits stop at the slice above; its `ready` is not gated, so the
            # upset does not reach the flows' handshakes with the writer in the same cycle)
        with m.If(upset & ~dead):
            m.d.sync += [dead.eq(1), d.halted.eq(1)]
            d.set_err(ErrorCode.INTERNAL)


class _Datapath:
    """The stages, the router's registers and the wiring between them."""

    def __init__(self, eng, m):
        self.eng = e = eng
        self.m = m
        self.p = p = eng.params
        S = Signal
        m.submodules.collect = self.col = col = ReadCollector()
        m.d.comb += [col.beats.payload.eq(e.rd_data.payload), col.beats.valid.eq(e.rd_data.valid),
                     e.rd_data.ready.eq(col.beats.ready)]
        m.submodules.row_reader = self.rr = rr = RowReader(p)
        m.submodules.admit = self.admit = admit = EntryAdmit(p)
        # row reads come from the admission stage (lists) or the UPDATE flow, through a
        # register slice: the admission decision ends in flops
        self.rr_fsm_valid, self.rr_fsm_req = S(), S(ROW_REQ)
        self.row_req = stream.Signature(ROW_REQ).create(path=("row_req",))
        self.row_req_slice = skid(m, "row_req_slice", self.row_req, rr.req, ROW_REQ)
        m.d.comb += [self.row_req.valid.eq(admit.row_req.valid | self.rr_fsm_valid),
                     self.row_req.payload.eq(Mux(self.rr_fsm_valid, self.rr_fsm_req, admit.row_req.payload)),
                     admit.row_req.ready.eq(self.row_req.ready),
                     admit.peek_valid.eq(rr.peek_valid), admit.peek_meta.eq(rr.peek_meta),
                     admit.peek_ue.eq(rr.peek_ue)]
        # the windows' verdict on each entry's addresses, a registered stage ahead of the checks
        m.submodules.entry_windows = self.ewin = ewin = EntryWindows(p)
        wiring.connect(m, col.entry, ewin.i)
        wiring.connect(m, ewin.o, admit.entry_in)
        # request lists: the walker reads and releases them, records go straight to the emitter
        m.submodules.walker = self.walker = walker = RequestWalker(p)
        self.rec_slice = skid(m, "rec_slice", walker.rec, e.rec, 64)
        # host reads leave through a register slice as well
        self.rd_src = stream.Signature(read_req_layout(p.addr_width)).create(path=("rd_src",))
        self.rd_slice = skid(m, "rd_slice", self.rd_src, e.rd_req, read_req_layout(p.addr_width))
        self._flows(m)
        merge_table_clients(m, p, e.tables, [rr.tables, walker.tables, *(f.tables for f in self.flows)])
        m.d.comb += [e.slot_we.eq(rr.slot_we), e.slot_sel.eq(rr.slot_sel), e.slot_word.eq(rr.slot_word),
                     e.slot_data.eq(rr.slot_data)]
        # configuration latched at enable, ring state
        self.cmdq_base, self.cplq_base, self.evtq_base = S(64), S(64), S(64)
        self.cmdq_log2, self.cplq_log2, self.evtq_log2 = S(4), S(4), S(4)
        self.enabled, self.halted = S(), S()
        self.win = e.win                                    # the DMA windows, latched with the rings
        m.d.comb += self.ewin.windows.eq(self.win)
        self.cmdq_prod, self.cmdq_cons = S(16), S(16)
        self.cplq_cons, self.evtq_cons = S(16), S(16)      # host consumer indices, from their doorbells
        self.ctrl_pending = S()                             # a CTRL write waits for IDLE
        self.quarantined = S(32)
        # the completion and event rings belong to the writer; the router hands it jobs
        m.submodules.ring_writer = self.writer = w = RingWriter(self.p)
        self.seq, self.cmd_count = w.seq, w.cmd_count
        m.d.comb += [w.fence_done.eq(e.fence_done), w.halted.eq(self.halted),
                     w.cplq_base.eq(self.cplq_base), w.cplq_log2.eq(self.cplq_log2), w.cplq_cons.eq(self.cplq_cons),
                     w.evtq_base.eq(self.evtq_base), w.evtq_log2.eq(self.evtq_log2), w.evtq_cons.eq(self.evtq_cons),
                     e.irq_cpl.eq(w.irq_cpl), e.irq_evt.eq(w.irq_evt)]
        self.err_bits = [S(name=f"err_{i}") for i in range(32)]      # ERR_STATUS bits to set now
        self.err = Cat(*self.err_bits)
        m.d.comb += [
            e.cmdq_cons.eq(self.cmdq_cons), e.cplq_prod.eq(w.cplq_prod), e.evtq_prod.eq(w.evtq_prod),
            e.enabled.eq(self.enabled), e.halted.eq(self.halted), e.cmd_count.eq(self.cmd_count),
            e.quarantined.eq(self.quarantined), e.err_set.eq(self.err | self.lst.err_set), e.ready.eq(e.tables_ready),
        ]
        # the command and its completion
        self.desc = S(COMMAND.amaranth())
        self.list_len_bad, self.list_addr_bad = S(), S()    # the fetched command's list checks
        self.load_outside = S()                             # its load block is outside the windows
        self.is_term = S()                                  # (EntryAdmit's, registered at DECODE)
        self.status, self.detail = S(32), S(8)
        self.err_index, self.result, self.cpl_seq = S(16), S(32), S(16)
        self.code = S(8)
        self.ev_handle, self.ev_host = S(32), S(32)        # a flow's events, before its completion
        self.ev_publish = S()                               # ... then SF_PUBLISH (else CMD_REFUSE)
        # the router's own ring jobs and the list flow's EVENTS (one at a time: AND-OR)
        self.ring_req = stream.Signature(ring_job_layout()).create(path=("ring_req",))
        ev = self.lst.events
        m.d.comb += [w.req.valid.eq(self.ring_req.valid | ev.valid), self.ring_req.ready.eq(w.req.ready),
                     ev.ready.eq(w.req.ready)]
        with m.If(ev.valid):
            m.d.comb += [w.req.payload.job.eq(RingJob.EVENTS), w.req.payload.handle.eq(ev.payload.handle),
                         w.req.payload.host_handle.eq(ev.payload.host_handle)]
        with m.Else():
            m.d.comb += w.req.payload.eq(self.ring_req.payload)
        # the list flow's emit commands and the writer's join the emitter's register slice
        # (never both at once); a DELEG command still in the slice holds its row slot as if
        # the emitter had it already
        self.emit_src = stream.Signature(emit_layout(p.addr_width)).create(path=("emit_src",))
        le = self.lst.emit
        m.d.comb += [self.emit_src.valid.eq(le.valid | w.emit.valid),
                     self.emit_src.payload.eq(Mux(w.emit.valid, w.emit.payload, le.payload)),
                     w.emit.ready.eq(self.emit_src.ready), le.ready.eq(self.emit_src.ready)]
        self.emit_slice = es = skid(m, "emit_slice", self.emit_src, e.emit, emit_layout(p.addr_width))
        self.slot_busy = S(ROW_SLOTS)
        held = []
        for valid, cmd in ((es.o.valid, es.o.payload), (es.skid_valid, es.skid_data)):
            cmd = data.View(emit_layout(p.addr_width), cmd)
            held.append(Mux(valid & (cmd.kind == EmitKind.DELEG), 1 << cmd.slot, 0))
        m.d.comb += [self.slot_busy.eq(e.slot_busy | held[0] | held[1]), self.admit.slot_busy.eq(self.slot_busy)]
        m.d.comb += [e.busy.eq(0), e.scrub_grant.eq(0)]
        # registers made several to a line get no name from Amaranth: name them after
        # their attribute, so the Verilog, waveforms and timing reports say what they are
        for attr, value in vars(self).items():
            if isinstance(value, Signal) and value.name == "$signal":
                value.name = attr
        self._doorbell()
        self._wire_flows(m)
        with m.If(walker.lost):             # an unreadable request entry was quarantined
            m.d.sync += self.quarantined.eq(self.quarantined + 1)
            self.set_err(ErrorCode.ECC_UNCORRECTABLE)

    # -- command flows --------------------------------------------------------------------
    def _flows(self, m):
        """OFFLOAD, POST, UPDATE, QUERY/TERMINATE and the scrubber's findings each run in
        their own FSM (rtl/flow.py); the router starts one and takes its result."""
        p = self.p
        m.submodules.offload = self.off = OffloadFlow(p)
        m.submodules.post = self.post = PostFlow(p)
        m.submodules.update = self.upd = UpdateFlow(p)
        m.submodules.listflow = self.lst = ListFlow(p)
        m.submodules.scrubfind = self.sf = ScrubFindings(p)
        self.flows = (self.off, self.post, self.upd, self.lst, self.sf)
        self.cmd_flows = (self.off, self.post, self.upd)
        # the hand-over both ways is registered: a start register per flow, here, and
        # each flow's `done` comes from its registers
        self.flow_start = {f.NAME: Signal(name=f"start_{f.NAME}") for f in self.flows}

    def _wire_flows(self, m):
        e, col, rr, admit = self.eng, self.col, self.rr, self.admit
        for f in self.flows:
            m.d.sync += self.flow_start[f.NAME].eq(0)          # (a pulse unless the FSM sets it)
            m.d.comb += [f.start.eq(self.flow_start[f.NAME]), f.desc.eq(self.desc)]
            if hasattr(f, "load_outside"):
                m.d.comb += f.load_outside.eq(self.load_outside)
            with m.If(f.ecc_err):
                self.set_err(ErrorCode.ECC_UNCORRECTABLE)
        with m.If(Cat(f.quarantine for f in self.flows).any()):
            m.d.sync += self.quarantined.eq(self.quarantined + 1)
        # the command flows' results, merged (one flow runs at a time): AND-OR
        self.flow_done = stream.Signature(FLOW_DONE).create(path=("flow_done",))
        acc = 0
        for f in self.cmd_flows:
            acc = acc | (f.done.payload.as_value() & f.done.valid.replicate(len(f.done.payload.as_value())))
            m.d.comb += f.done.ready.eq(self.flow_done.ready)
        m.d.comb += [self.flow_done.valid.eq(Cat(f.done.valid for f in self.cmd_flows).any()),
                     self.flow_done.payload.eq(acc)]
        # host reads of OFFLOAD and UPDATE into the collector (the router's own override)
        loads = (self.off, self.upd)
        rd_acc = 0
        for f in loads:
            v = f.rd_req.payload.as_value()
            rd_acc = rd_acc | (v & f.rd_req.valid.replicate(len(v)))
            m.d.comb += [f.rd_req.ready.eq(self.rd_src.ready), f.col_done.eq(col.done),
                         f.col_err.eq(col.buf_err), f.words.eq(col.words)]
        m.d.comb += [self.rd_src.valid.eq(Cat(f.rd_req.valid for f in loads).any()), self.rd_src.payload.eq(rd_acc),
                     col.start.eq(Cat(f.col_start for f in loads).any())]
        with m.If(Cat(f.col_start for f in loads).any()):
            m.d.sync += col.list_mode.eq(0)
        # rows: UPDATE's through the RowReader into the current slot; the list flow takes
        # the rows EntryAdmit asked for (one flow runs at a time)
        u, lf = self.upd, self.lst
        m.d.comb += [self.rr_fsm_valid.eq(u.row_req.valid), self.rr_fsm_req.eq(u.row_req.payload),
                     u.row_req.ready.eq(self.row_req.ready),
                     u.row_resp.valid.eq(rr.resp.valid), u.row_resp.payload.eq(rr.resp.payload),
                     lf.row_resp.valid.eq(rr.resp.valid), lf.row_resp.payload.eq(rr.resp.payload),
                     rr.resp.ready.eq(u.row_resp.ready | lf.row_resp.ready),
                     u.slot.eq(self.lst.slot), u.slot_busy.eq(self.slot_busy.bit_select(self.lst.slot, 1)),
                     e.crc_fail.eq(u.crc_fail | lf.crc_fail), e.crc_mem.eq(u.crc_mem | lf.crc_mem),
                     e.crc_addr.eq(u.crc_addr | lf.crc_addr)]
        # the list flow and the list stages
        wiring.connect(m, admit.entries, lf.entries)
        wiring.connect(m, lf.walk, self.walker.req)
        wiring.connect(m, self.walker.resp, lf.walk_done)
        m.d.comb += [lf.cmd_tag.eq(self.cmd_count[:TAG_BITS]), lf.flush_req.eq(admit.flush_req),
                     lf.admit_empty.eq(admit.empty & self.ewin.empty), lf.col_done.eq(col.done),
                     self.ewin.clear.eq(admit.start | lf.admit_drop),
                     admit.drop.eq(lf.admit_drop), col.drain.eq(lf.col_drain),
                     admit.seq_waiting.eq(lf.seq_waiting), admit.is_term.eq(self.is_term),
                     admit.pend_valid.eq(lf.pend_valid), admit.pend_type.eq(lf.pend_type),
                     admit.pend_idx.eq(lf.pend_idx)]
        # the scrubber's finding goes to its flow
        wiring.connect(m, wiring.flipped(e.scrub_report), self.sf.report)

    # -- errors ---------------------------------------------------------------------------
    def set_err(self, code):
        self.m.d.comb += self.err_bits[int(code)].eq(1)

    def _doorbell(self):
        m, e = self.m, self.eng
        # a consumer doorbell may move the consumer forward up to the last entry written, no
        # further (a host that claims entries never written would let the engine overwrite
        # unread ones)
        w = self.writer
        for cons, new, we, prod, ring in ((self.cplq_cons, e.cplq_cons, e.cplq_cons_we, w.cplq_next, "cplq"),
                                          (self.evtq_cons, e.evtq_cons, e.evtq_cons_we, w.evtq_next, "evtq")):
            step, avail = Signal(16, name=f"{ring}_cons_step"), Signal(16, name=f"{ring}_cons_avail")
            m.d.comb += [step.eq(new - cons), avail.eq(prod - cons)]
            with m.If(we):
                with m.If(step > avail):
                    self.set_err(ErrorCode.CONS_OVERRUN)
                with m.Else():
                    m.d.sync += cons.eq(new)
        with m.If(e.ctrl_we):
            m.d.sync += self.ctrl_pending.eq(1)
        ahead = Signal(16)
        m.d.comb += ahead.eq(e.cmdq_prod - self.cmdq_cons)
        with m.If(e.cmdq_prod_we):
            with m.If(ahead > (Const(1, 17) << e.cmdq_log2)):
                self.set_err(ErrorCode.CMDQ_OVERFLOW)
            with m.Else():
                m.d.sync += self.cmdq_prod.eq(e.cmdq_prod)
        with m.If(e.dma_fatal):
            m.d.sync += self.halted.eq(1)         # host memory is undefined now: stop until RESET

    def ring_addr(self, base, log2, index, entry_bytes):
        mask = Signal(16, name=f"ring_mask_{entry_bytes}")
        self.m.d.comb += mask.eq((Const(1, 17) << log2) - 1)
        return base + (index & mask) * entry_bytes

    def ring_job(self, job, **fields):
        """Hand the ring writer a job (held until it is finished: `ready`)."""
        return offer(self.m, self.ring_req, job=job, **fields)


# ======================================================================================
def _control_states(m, d):
    e = d.eng

    with m.State("INIT"):
        m.d.comb += e.tables_init.eq(1)
        m.next = "INIT_WAIT"

    with m.State("INIT_WAIT"):
        with m.If(e.tables_ready):
            m.next = "IDLE"

    with m.State("IDLE"):
        want_scrub_fail = e.scrub_report.valid & ~d.halted & d.enabled
        want_cmd = d.enabled & ~d.halted & (d.cmdq_cons != d.cmdq_prod) & ~d.ctrl_pending
        want = Signal()
        m.d.comb += want.eq(want_scrub_fail | want_cmd)
        # the scrubber keeps the tables until it finishes a step
        m.d.comb += e.scrub_grant.eq(~want | e.scrub_busy)
        with m.If(d.ctrl_pending):
            # CTRL.RESET restarts the whole engine (a reset domain in the top level);
            # here only ENABLE matters: 0 stops, 1 latches and checks the rings
            m.d.sync += d.ctrl_pending.eq(0)
            with m.If(~e.ctrl_enable):
                m.d.sync += d.enabled.eq(0)
            with m.Elif(~d.enabled & ~d.halted):
                ok = Signal()
                m.d.comb += ok.eq((e.cmdq_base[:6] == 0) & (e.cplq_base[:6] == 0) & (e.evtq_base[:6] == 0)
                                  & (e.cmdq_base != 0) & (e.cplq_base != 0) & (e.evtq_base != 0)
                                  & (e.cmdq_log2 != 0) & (e.cplq_log2 != 0) & (e.evtq_log2 != 0))
                # and the rings must lie inside the windows (both from CSR flops)
                wins = [e.windows[i] for i in range(d.p.n_windows)]
                rings_in = Signal()
                m.d.comb += rings_in.eq(Cat(
                    any_inside(m, wins, base, ring_span(log2, RING_ENTRY_BYTES[name]), f"{name.lower()}_win")
                    for name, base, log2 in (("CMDQ", e.cmdq_base, e.cmdq_log2), ("CPLQ", e.cplq_base, e.cplq_log2),
                                             ("EVTQ", e.evtq_base, e.evtq_log2))).all())
                with m.If(ok & rings_in):
                    m.d.sync += [d.enabled.eq(1), d.cmdq_base.eq(e.cmdq_base), d.cplq_base.eq(e.cplq_base),
                                 d.evtq_base.eq(e.evtq_base), d.cmdq_log2.eq(e.cmdq_log2),
                                 d.cplq_log2.eq(e.cplq_log2), d.evtq_log2.eq(e.evtq_log2), d.win.eq(e.windows)]
                with m.Elif(ok):
                    d.set_err(ErrorCode.RING_CONFIG)
                    d.set_err(ErrorCode.BAD_ADDRESS)
                with m.Else():
                    d.set_err(ErrorCode.RING_CONFIG)
        with m.Elif(want & ~e.scrub_busy):
            with m.If(want_scrub_fail):
                m.d.sync += d.flow_start["scrubfind"].eq(1)
                m.next = "SCRUB_WAIT"
            with m.Else():
                m.next = "FETCH"

    with m.State("FETCH"):
        m.d.comb += [e.busy.eq(1), d.rd_src.valid.eq(1),
                     d.rd_src.payload.addr.eq(d.ring_addr(d.cmdq_base, d.cmdq_log2, d.cmdq_cons, 32)),
                     d.rd_src.payload.beats.eq(4)]
        with m.If(d.rd_src.ready):
            m.d.comb += d.col.start.eq(1)
            m.d.sync += d.col.list_mode.eq(0)
            m.next = "FETCH_WAIT"

    with m.State("FETCH_WAIT"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.col.done):
            # the list checks of DECODE, worked out now from the collector's registers
            fetched = data.View(COMMAND.amaranth(), d.col.words[:256])
            wins = [d.win[i] for i in range(d.p.n_windows)]
            # (a count of 0 or past MAX_LIST_ENTRIES is refused first; 16 bits name the rest)
            list_in = any_inside(m, wins, fetched.addr, list_span(fetched.count[:16]),
                                 "list_win")
            load_bytes = Signal(8, init=8)          # (another obj_type is refused as BAD_HANDLE first)
            for t in ObjType:
                with m.If(fetched.obj_type == t):
                    m.d.comb += load_bytes.eq(load_span(t))
            load_in = any_inside(m, wins, fetched.addr, load_bytes, "load_win")
            m.d.sync += [d.list_len_bad.eq((fetched.count == 0) | (fetched.count > MAX_LIST_ENTRIES)),
                         d.list_addr_bad.eq((fetched.addr == 0) | (fetched.addr[:3] != 0) | ~list_in),
                         d.load_outside.eq(~load_in),
                         d.is_term.eq(fetched.opcode == Opcode.TERMINATE)]
            m.d.sync += [d.desc.eq(fetched),
                         d.cmdq_cons.eq(d.cmdq_cons + 1), d.cpl_seq.eq(d.seq),
                         d.status.eq(NdisStatus.SUCCESS), d.detail.eq(0), d.err_index.eq(NO_INDEX),
                         d.result.eq(0)]
            with m.If(d.col.buf_err):
                # no tag to complete: the command ring itself is unreadable, stop
                m.d.sync += [d.halted.eq(1), d.cmdq_cons.eq(d.cmdq_cons)]
                d.set_err(ErrorCode.DMA_READ)
                m.next = "IDLE"
            with m.Else():
                m.d.comb += d.writer.seq_take.eq(1)
                m.next = "DECODE"

    with m.State("DECODE"):
        m.d.comb += e.busy.eq(1)
        with m.Switch(d.desc.opcode):
            with m.Case(Opcode.NOP):
                m.next = "COMPLETE"
            for flow, opcodes in ((d.off, (Opcode.OFFLOAD,)), (d.post, (Opcode.POST_SEND, Opcode.POST_RECV)),
                                  (d.upd, (Opcode.UPDATE,))):
                with m.Case(*opcodes):
                    m.d.sync += d.flow_start[flow.NAME].eq(1)
                    m.next = "FLOW_WAIT"
            with m.Case(Opcode.QUERY, Opcode.TERMINATE):
                _list_start(m, d)           # the list read goes out now when it can
            with m.Default():
                m.d.sync += d.code.eq(ErrorCode.BAD_OPCODE)
                m.next = "CMD_REFUSE"

    with m.State("LIST_START"):
        m.d.comb += e.busy.eq(1)
        _list_start(m, d)

    # the whole command is refused: status and detail from `code`
    with m.State("CMD_REFUSE"):
        m.d.comb += e.busy.eq(1)
        for c, st in ERROR_STATUS.items():
            if c:
                with m.If(d.code == c):
                    m.d.sync += d.status.eq(st)
                    d.set_err(c)
        m.d.sync += d.detail.eq(d.code)
        m.next = "COMPLETE"

    # the writer fences, writes the completion entry and publishes both rings
    with m.State("COMPLETE"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.ring_job(RingJob.COMPLETE, status=d.status, result=d.result, tag=d.desc.tag,
                             err_index=d.err_index, seq=d.cpl_seq, detail=d.detail, opcode=d.desc.opcode)):
            m.next = "IDLE"


def _list_start(m, d):
    """QUERY/TERMINATE: refuse a list of bad length or address, otherwise read the whole
    list into the collector, start EntryAdmit and the list flow (LIST_START again while
    the read slice is full)."""
    with m.If(d.list_len_bad):
        m.d.sync += d.code.eq(ErrorCode.BAD_LENGTH)
        m.next = "CMD_REFUSE"
    with m.Elif(d.list_addr_bad):
        m.d.sync += d.code.eq(ErrorCode.BAD_ADDRESS)
        m.next = "CMD_REFUSE"
    with m.Else():
        m.d.comb += [d.rd_src.valid.eq(1), d.rd_src.payload.addr.eq(d.desc.addr),
                     d.rd_src.payload.beats.eq(d.desc.count * 4)]
        with m.If(d.rd_src.ready):
            m.d.comb += [d.col.start.eq(1), d.admit.start.eq(1)]
            m.d.sync += [d.col.list_mode.eq(1), d.flow_start["list"].eq(1)]
            m.next = "LIST_WAIT"
        with m.Else():
            m.next = "LIST_START"


# ======================================================================================
def _dispatch_states(m, d):
    """Waiting for a flow to end, and what follows: the events it asks for, the
    completion or refusal, publishing."""
    e = d.eng

    with m.State("FLOW_WAIT"):
        r = d.flow_done.payload
        m.d.comb += [e.busy.eq(1), d.flow_done.ready.eq(1)]
        with m.If(d.flow_done.valid):
            with m.If(r.code == 0):
                m.d.sync += d.result.eq(r.result)
                m.next = "COMPLETE"
            with m.Else():
                m.d.sync += d.code.eq(r.code)
                with m.If(r.events):
                    m.d.sync += [d.ev_handle.eq(r.ev_handle), d.ev_host.eq(r.ev_host), d.ev_publish.eq(0)]
                    m.next = "EVENTS"
                with m.Else():
                    m.next = "CMD_REFUSE"

    with m.State("LIST_WAIT"):
        r = d.lst.done.payload
        m.d.comb += [e.busy.eq(1), d.lst.done.ready.eq(1)]
        with m.If(d.lst.done.valid):
            m.d.sync += [d.status.eq(r.status), d.detail.eq(r.detail), d.err_index.eq(r.err_index),
                         d.result.eq(r.result)]
            m.next = "COMPLETE"

    with m.State("SCRUB_WAIT"):
        r = d.sf.done.payload
        m.d.comb += [e.busy.eq(1), d.sf.done.ready.eq(1)]
        with m.If(d.sf.done.valid):
            with m.If(r.events):
                m.d.sync += [d.ev_handle.eq(r.ev_handle), d.ev_host.eq(r.ev_host), d.ev_publish.eq(1)]
                m.next = "EVENTS"
            with m.Else():
                m.next = "SF_PUBLISH"

    # Retrieve(HardwareFailure) then Abort for ev_handle (the ring writer)
    with m.State("EVENTS"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.ring_job(RingJob.EVENTS, handle=d.ev_handle, host_handle=d.ev_host)):
            with m.If(d.ev_publish):
                m.next = "SF_PUBLISH"
            with m.Else():
                m.next = "CMD_REFUSE"

    with m.State("SF_PUBLISH"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.ring_job(RingJob.PUBLISH)):
            m.next = "IDLE"
