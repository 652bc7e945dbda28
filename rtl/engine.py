"""The command engine: fetches commands, runs them against the state tables, writes results.

One command at a time, in ring order (docs/interface.md, "Commands"). QUERY and
TERMINATE lists are processed entry by entry; each entry is checked, its row read
and verified (SECDED on every word, the row CRC over data words and host handle,
the request list walked), and only then does anything change: Status word, request
records, delegated bytes and table updates go out through the emitter, which keeps
the DMA write channel busy while this FSM already works on the next entry.

Every memory access goes through the tables' engine port; every host write through
the emitter; every host read through the DMA read channel and `ReadCollector`.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import (EngineParams, ObjType, Opcode, ErrorCode, ERROR_STATUS, NdisStatus,
                              COMMAND, LIST_ENTRY, REQ_HEADER, HANDLE, IDENT, memory_id, NO_INDEX,
                              MAX_LIST_ENTRIES, WRITE_BACK)
from chimney.contract.rows import GEN_BITS, TAG_BITS

from .collector import ReadCollector
from .decide import CheckOutcome, evaluate_checks, facts_namespace
from .dma import read_req_layout, READ_BEAT as ReadBeat
from .emitter import EmitKind, emit_layout, ROW_SLOTS, SLOT_SEL_BITS
from .flow import FLOW_DONE, META_FAILED, META_DETACHED
from .fsmguard import StateGuard
from .offload import OffloadFlow
from .post import PostFlow
from .update import UpdateFlow
from .scrubfind import ScrubFindings, SCRUB_REPORT
from .ringwriter import RingJob, RingWriter
from .portmux import merge_table_clients
from .admit import EntryAdmit
from .rowreader import ROW_REQ, RowReader
from .walker import RequestWalker
from .skid import skid
from .tableio import TableIO
from .tables import tables_signature
from .pack import pack

__all__ = ["CommandEngine"]


class CommandEngine(wiring.Component):
    """The sequencer. See the module docstring and docs/architecture.md for the flows."""

    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        aw = params.addr_width
        super().__init__({
            # control (from CSR)
            "ctrl_we": In(1), "ctrl_enable": In(1),
            "cmdq_base": In(64), "cmdq_log2": In(4), "cmdq_prod": In(16), "cmdq_prod_we": In(1),
            "cplq_base": In(64), "cplq_log2": In(4), "cplq_cons": In(16), "cplq_cons_we": In(1),
            "evtq_base": In(64), "evtq_log2": In(4), "evtq_cons": In(16), "evtq_cons_we": In(1),
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

    def elaborate(self, platform):
        m = Module()
        d = _Datapath(self, m)
        guard = StateGuard(m, "engine")      # guard.m: m, but every `next =` also records its code
        with m.FSM(name="engine") as fsm:
            for states in (_control_states, _completion_states, _subroutine_states, _flow_states,
                           _list_states):
                states(guard.m, d)
        self._guard(m, d, guard.seal(fsm, "INIT"))
        # registers a fault campaign may corrupt (recorded in the Verilog name map)
        self._probes = {"engine.state": (fsm.state, dict(fsm.encoding)),
                        "engine.state_check": (guard.reg, None)}
        self._flows = d.flows
        return m

    @property
    def probes(self):
        """{name: (register, state encoding or None)} a fault campaign may corrupt: the
        sequencer's state and check registers, and each flow's state once it is elaborated."""
        out = dict(self._probes)
        for flow in self._flows:
            if hasattr(flow, "fsm"):
                out[f"{flow.NAME}.state"] = (flow.fsm.state, dict(flow.fsm.encoding))
        return out

    def _guard(self, m, d, own_upset):
        """A state register that no longer matches its check register (an upset: the
        sequencer's or a flow's, rtl/fsmguard.py) freezes the engine in the same cycle: no
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
                         d.writer.req.valid.eq(0), d.writer.emit.ready.eq(0)]
        with m.If(upset & ~dead):
            m.d.sync += [dead.eq(1), d.halted.eq(1)]
            d.set_err(ErrorCode.INTERNAL)


# continuation points of the shared sub-sequences
RET = {name: i for i, name in enumerate((
    "ADVANCE", "FREE", "QUARANTINE", "EVENTS_ADVANCE", "REFUSE_CMD",
    "SCRUB_PUBLISH", "DETACH"))}


class _Datapath:
    """Registers, table-port helpers and emitter helpers shared by every flow."""

    def __init__(self, eng, m):
        self.eng = e = eng
        self.m = m
        self.p = p = eng.params
        m.submodules.collect = self.col = col = ReadCollector()
        m.d.comb += [col.beats.payload.eq(e.rd_data.payload), col.beats.valid.eq(e.rd_data.valid),
                     e.rd_data.ready.eq(col.beats.ready)]
        # the sequencer's own table requests, merged with its stages' (rtl/portmux.py)
        self.fsm_tables = tables_signature(p).create(path=("fsm_tables",))
        self.io = io = TableIO(m, p, self.fsm_tables)
        self.rv, self.read, self.write, self.mfield, self.meta_value = io.rv, io.read, io.write, io.mfield, io.meta_value
        m.submodules.row_reader = self.rr = rr = RowReader(p)
        m.submodules.admit = self.admit = admit = EntryAdmit(p)
        self.l_wait = Signal()              # the sequencer waits for the next list entry
        # row reads come from the admission stage (lists) or the UPDATE flow
        self.rr_fsm_valid, self.rr_fsm_req = Signal(), Signal(ROW_REQ)
        # ... through a register slice: the admission decision ends in flops
        self.row_req = stream.Signature(ROW_REQ).create(path=("row_req",))
        self.row_req_slice = skid(m, "row_req_slice", self.row_req, rr.req, ROW_REQ)
        m.d.comb += [self.row_req.valid.eq(admit.row_req.valid | self.rr_fsm_valid),
                     self.row_req.payload.eq(Mux(self.rr_fsm_valid, self.rr_fsm_req, admit.row_req.payload)),
                     admit.row_req.ready.eq(self.row_req.ready),
                     admit.peek_valid.eq(rr.peek_valid), admit.peek_meta.eq(rr.peek_meta),
                     admit.peek_ue.eq(rr.peek_ue),
                     admit.seq_waiting.eq(self.l_wait)]
        wiring.connect(m, col.entry, admit.entry_in)
        # request lists: the walker reads and releases them, records go straight to the emitter
        m.submodules.walker = self.walker = walker = RequestWalker(p)
        self.rec_slice = skid(m, "rec_slice", walker.rec, e.rec, 64)
        # host reads leave through a register slice as well
        self.rd_src = stream.Signature(read_req_layout(p.addr_width)).create(path=("rd_src",))
        self.rd_slice = skid(m, "rd_slice", self.rd_src, e.rd_req, read_req_layout(p.addr_width))
        self._flows(m)
        merge_table_clients(m, p, e.tables, [self.fsm_tables, rr.tables, walker.tables,
                                             *(f.tables for f in self.flows)])
        m.d.comb += [e.slot_we.eq(rr.slot_we), e.slot_sel.eq(rr.slot_sel), e.slot_word.eq(rr.slot_word),
                     e.slot_data.eq(rr.slot_data)]
        S = Signal
        # configuration latched at enable, ring state
        self.cmdq_base, self.cplq_base, self.evtq_base = S(64), S(64), S(64)
        self.cmdq_log2, self.cplq_log2, self.evtq_log2 = S(4), S(4), S(4)
        self.enabled, self.halted = S(), S()
        self.cmdq_prod, self.cmdq_cons = S(16), S(16)
        self.cplq_cons, self.evtq_cons = S(16), S(16)      # host consumer indices, from their doorbells
        self.ctrl_pending = S()                             # a CTRL write waits for IDLE
        self.quarantined = S(32)
        # the completion and event rings belong to the writer; the sequencer hands it jobs
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
            e.quarantined.eq(self.quarantined), e.err_set.eq(self.err), e.ready.eq(e.tables_ready),
        ]
        # command
        self.desc = S(COMMAND.amaranth())
        self.list_len_bad, self.list_addr_bad = S(), S()    # the fetched command's list checks
        self.status, self.detail = S(32), S(8)
        self.err_index, self.result, self.cpl_seq = S(16), S(32), S(16)
        self.code = S(8)
        self.ret = S(range(len(RET)))
        self.ret2 = S(range(len(RET)))
        # current object
        self.entry = S(LIST_ENTRY.amaranth())
        self.deleg_addr, self.rec_addr = S(p.addr_width), S(p.addr_width)    # its delegated bytes, records
        self.e_idx = S(16)
        self.is_term = S()
        self.refused = S()
        self.htype, self.hindex, self.hgen, self.hrsvd = S(2), S(16), S(GEN_BITS), S(6)
        self.meta_raw, self.meta_ue = S(64), S()
        self.ident_raw, self.ident_ue = S(64), S()
        self.ident = data.View(IDENT.amaranth(), self.ident_raw)
        self.slot = S(SLOT_SEL_BITS)
        self.row_out = S(CheckOutcome)      # ... the row checks' verdict, taken with the row
        self.row_code, self.has_reqs = S(8), S()
        # ... and what the list flow later writes and decides from the meta word, worked
        # out as it is taken (a list flow's meta word changes only there)
        self.free_meta = S(64)              # the row freed: generation + 1, this command's tag
        self.row_parent = S(16)             # meta.u.live.parent
        self.pd_skip, self.pd_idx, self.pd_oob = S(), S(16), S()    # PARENT_DEC's decision
        self.crc_bad = S()                  # ... found by the row CRC alone
        # request-list walk (rtl/walker.py does it; these are its request and answer)
        self.wp, self.wtotal, self.wgood = S(16), S(16), S(16)
        self.wok, self.walk_abort = S(), S()
        # pending parent decrement: consecutive entries share their parent, so the count
        # is taken off once, when the parent changes, before a path or neighbor entry is
        # looked at, and at the end of the list
        self.pend_valid, self.pend_type, self.pend_idx, self.pend_count = S(), S(2), S(16), S(17)
        self.nx_type, self.nx_idx, self.fset = S(2), S(16), S()
        self.fret = S(2)
        self.fl_word, self.fl_ok = S(64), S()               # the parent's meta word, as read
        # pending emits (header, delegated bytes, status) and events
        self.p_hdr, self.p_deleg, self.p_status = S(), S(), S()
        self.hdr_val = S(64)
        self.status_val = S(32)
        self.ev_handle, self.ev_host = S(32), S(32)
        self.events_after = S()             # PARENT_DEC continues with the failure events
        # the sequencer's own emit commands; the writer's join them (never both at once)
        self.emit_valid = S()
        self.emit = S(emit_layout(p.addr_width))
        # ... through a register slice to the emitter; a DELEG command still in the slice
        # holds its row slot as if the emitter had it already
        self.emit_src = stream.Signature(emit_layout(p.addr_width)).create(path=("emit_src",))
        m.d.comb += [self.emit_src.valid.eq(self.emit_valid | w.emit.valid),
                     self.emit_src.payload.eq(Mux(w.emit.valid, w.emit.payload, self.emit)),
                     w.emit.ready.eq(self.emit_src.ready)]
        self.emit_slice = es = skid(m, "emit_slice", self.emit_src, e.emit, emit_layout(p.addr_width))
        self.slot_busy = Signal(ROW_SLOTS)
        held = []
        for valid, cmd in ((es.o.valid, es.o.payload), (es.skid_valid, es.skid_data)):
            cmd = data.View(emit_layout(p.addr_width), cmd)
            held.append(Mux(valid & (cmd.kind == EmitKind.DELEG), 1 << cmd.slot, 0))
        m.d.comb += [self.slot_busy.eq(e.slot_busy | held[0] | held[1]), self.admit.slot_busy.eq(self.slot_busy)]
        m.d.comb += [e.busy.eq(0), e.scrub_grant.eq(0)]
        m.d.comb += [self.admit.is_term.eq(self.is_term), self.admit.pend_valid.eq(self.pend_valid),
                     self.admit.pend_type.eq(self.pend_type), self.admit.pend_idx.eq(self.pend_idx)]
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
        """OFFLOAD, POST, UPDATE and the scrubber's findings each run in their own FSM
        (rtl/flow.py); the sequencer routes the command to one and takes its result."""
        p = self.p
        m.submodules.offload = self.off = OffloadFlow(p)
        m.submodules.post = self.post = PostFlow(p)
        m.submodules.update = self.upd = UpdateFlow(p)
        m.submodules.scrubfind = self.sf = ScrubFindings(p)
        self.flows = (self.off, self.post, self.upd, self.sf)
        self.cmd_flows = (self.off, self.post, self.upd)
        # the hand-over both ways is registered: a start register per flow, here, and
        # each flow's `done` comes from its registers
        self.flow_start = {f.NAME: Signal(name=f"start_{f.NAME}") for f in self.flows}

    def _wire_flows(self, m):
        e, col, rr = self.eng, self.col, self.rr
        for f in self.flows:
            m.d.sync += self.flow_start[f.NAME].eq(0)          # (a pulse unless the FSM sets it)
            m.d.comb += [f.start.eq(self.flow_start[f.NAME]), f.desc.eq(self.desc)]
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
        # host reads of OFFLOAD and UPDATE into the collector (the sequencer's own override)
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
        # UPDATE reads its row through the RowReader, into the current slot
        u = self.upd
        m.d.comb += [self.rr_fsm_valid.eq(u.row_req.valid), self.rr_fsm_req.eq(u.row_req.payload),
                     u.row_req.ready.eq(self.row_req.ready),
                     u.row_resp.valid.eq(rr.resp.valid), u.row_resp.payload.eq(rr.resp.payload),
                     rr.resp.ready.eq(u.row_resp.ready),
                     u.slot.eq(self.slot), u.slot_busy.eq(self.slot_busy_now()),
                     e.crc_fail.eq(u.crc_fail), e.crc_mem.eq(u.crc_mem), e.crc_addr.eq(u.crc_addr)]
        # the scrubber's finding goes to its flow
        wiring.connect(m, wiring.flipped(e.scrub_report), self.sf.report)

    # -- errors ---------------------------------------------------------------------------
    def set_err(self, code):
        self.m.d.comb += self.err_bits[int(code)].eq(1)

    def set_err_dyn(self, code_sig):
        for c in ErrorCode:
            if c:
                with self.m.If(code_sig == c):
                    self.set_err(c)

    def _doorbell(self):
        m, e = self.m, self.eng
        with m.If(e.cplq_cons_we):
            m.d.sync += self.cplq_cons.eq(e.cplq_cons)
        with m.If(e.evtq_cons_we):
            m.d.sync += self.evtq_cons.eq(e.evtq_cons)
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

    # -- emitter ------------------------------------------------------------------------------
    def push(self, kind, **fields):
        m = self.m
        m.d.comb += [self.emit_valid.eq(1), self.emit.kind.eq(kind)]
        for name, value in fields.items():
            m.d.comb += getattr(self.emit, name).eq(value)
        return self.emit_src.ready

    def push_status(self, addr, value):
        return self.push(EmitKind.WORD, addr=addr & ~7, data=Mux(addr[2], Cat(Const(0, 32), value), value),
                         strb=Mux(addr[2], 0xF0, 0x0F))

    def ring_addr(self, base, log2, index, entry_bytes):
        mask = Signal(16, name=f"ring_mask_{entry_bytes}")
        self.m.d.comb += mask.eq((Const(1, 17) << log2) - 1)
        return base + (index & mask) * entry_bytes


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
                with m.If(ok):
                    m.d.sync += [d.enabled.eq(1), d.cmdq_base.eq(e.cmdq_base), d.cplq_base.eq(e.cplq_base),
                                 d.evtq_base.eq(e.evtq_base), d.cmdq_log2.eq(e.cmdq_log2),
                                 d.cplq_log2.eq(e.cplq_log2), d.evtq_log2.eq(e.evtq_log2)]
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
            m.d.sync += [d.list_len_bad.eq((fetched.count == 0) | (fetched.count > MAX_LIST_ENTRIES)),
                         d.list_addr_bad.eq((fetched.addr == 0) | (fetched.addr[:3] != 0))]
            m.d.sync += [d.desc.eq(fetched),
                         d.cmdq_cons.eq(d.cmdq_cons + 1), d.cpl_seq.eq(d.seq),
                         d.status.eq(NdisStatus.SUCCESS), d.detail.eq(0), d.err_index.eq(NO_INDEX),
                         d.result.eq(0), d.refused.eq(0)]
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
        h = data.View(HANDLE.amaranth(), d.desc.handle)
        m.d.sync += [d.htype.eq(h.type), d.hindex.eq(h.index), d.hgen.eq(h.gen), d.hrsvd.eq(h.rsvd)]
        with m.Switch(d.desc.opcode):
            with m.Case(Opcode.NOP):
                m.next = "COMPLETE"
            for flow, opcodes in ((d.off, (Opcode.OFFLOAD,)), (d.post, (Opcode.POST_SEND, Opcode.POST_RECV)),
                                  (d.upd, (Opcode.UPDATE,))):
                with m.Case(*opcodes):
                    m.d.sync += d.flow_start[flow.NAME].eq(1)
                    m.next = "FLOW_WAIT"
            with m.Case(Opcode.QUERY, Opcode.TERMINATE):
                m.d.sync += d.is_term.eq(d.desc.opcode == Opcode.TERMINATE)
                _list_start(m, d)           # the list read goes out now when it can
            with m.Default():
                m.d.sync += d.code.eq(ErrorCode.BAD_OPCODE)
                m.next = "CMD_REFUSE"

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


def _list_start(m, d):
    """QUERY/TERMINATE: check the list's length and address, then read the whole list
    (LIST_START again while the read slice is full)."""
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
            m.d.sync += [d.col.list_mode.eq(1), d.e_idx.eq(0)]
            m.next = "L_NEXT"
        with m.Else():
            m.next = "LIST_START"


def _completion_states(m, d):
    e = d.eng

    # the writer fences, writes the completion entry and publishes both rings
    with m.State("COMPLETE"):
        m.d.comb += e.busy.eq(1)
        _ring_job(m, d, RingJob.COMPLETE, status=d.status, result=d.result, tag=d.desc.tag,
                  err_index=d.err_index, seq=d.cpl_seq, detail=d.detail, opcode=d.desc.opcode)
        with m.If(d.writer.req.ready):
            m.next = "IDLE"


def _ring_job(m, d, job, **fields):
    """Hand the ring writer a job (held until it is finished: `req.ready`)."""
    w = d.writer
    m.d.comb += [w.req.valid.eq(1), w.req.payload.job.eq(job)]
    for name, value in fields.items():
        m.d.comb += getattr(w.req.payload, name).eq(value)


def _walker_job(m, d, **fields):
    """Hand the request walker a walk or a release (held until it takes it)."""
    w = d.walker
    m.d.comb += w.req.valid.eq(1)
    for name, value in fields.items():
        m.d.comb += getattr(w.req.payload, name).eq(value)


def _push_deleg(m, d, then):
    """Queue the entry's delegated bytes from the current row slot (the emitter formats
    them into NDIS layout); once taken, the next row goes to the other slot."""
    with m.If(d.push(EmitKind.DELEG, addr=d.deleg_addr,
                     obj_type=d.htype, slot=d.slot)):
        m.next = then


def _report_crc(m, d):
    """The row CRC caught what SECDED could not (three or more flips): tell the reporter."""
    e = d.eng
    m.d.comb += [e.crc_fail.eq(1), e.crc_addr.eq(d.hindex)]
    for t in ObjType:
        with m.If(d.htype == t):
            m.d.comb += e.crc_mem.eq(memory_id(t, "data"))


def _goto_ret(m, d, reg):
    with m.Switch(reg):
        for name, code in RET.items():
            with m.Case(code):
                m.next = "RET_" + name


def _subroutine_states(m, d):
    """Sub-sequences several flows share; each returns through `ret` (or `ret2`)."""
    e, p = d.eng, d.p

    # ---- push the pending request header, delegated bytes and Status word ----
    with m.State("EMIT_HDR"):
        m.d.comb += e.busy.eq(1)
        with m.If(~d.p_hdr):
            m.next = "EMIT_DELEG"
        with m.Else():
            with m.If(d.push(EmitKind.WORD, addr=d.entry.req_addr, data=d.hdr_val, strb=0xFF)):
                m.next = "EMIT_DELEG"

    with m.State("EMIT_DELEG"):
        m.d.comb += e.busy.eq(1)
        with m.If(~d.p_deleg | (d.htype == ObjType.PATH)):
            m.next = "EMIT_STATUS"
        with m.Else():
            _push_deleg(m, d, "EMIT_STATUS")

    with m.State("EMIT_STATUS"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.push_status(d.entry.status_addr, d.status_val)):
            m.d.sync += [d.p_hdr.eq(0), d.p_deleg.eq(0)]
            with m.If(d.status_val != NdisStatus.SUCCESS):
                m.d.sync += d.result.eq(d.result + 1)
            _goto_ret(m, d, d.ret)

    # ---- Retrieve(HardwareFailure) then Abort for ev_handle (the ring writer) ----
    with m.State("EVENTS"):
        m.d.comb += e.busy.eq(1)
        _ring_job(m, d, RingJob.EVENTS, handle=d.ev_handle, host_handle=d.ev_host)
        with m.If(d.writer.req.ready):
            _goto_ret(m, d, d.ret2)

    # ---- free the row: generation + 1, tagged with this command ----
    with m.State("RET_FREE"):
        m.d.comb += e.busy.eq(1)
        d.write(d.htype, "meta", d.hindex, d.free_meta)      # (list flows only: ROW_WAIT's)
        with m.If((d.htype == ObjType.TCP) & (d.wgood != 0)):
            m.d.sync += d.wp.eq(d.mfield(d.meta_raw, d.htype, "u.live.req_head"))
            m.next = "FREE_POOL"
        with m.Else():
            m.next = "PARENT_DEC"

    with m.State("RET_QUARANTINE"):
        m.d.comb += e.busy.eq(1)
        d.write(d.htype, "meta", d.hindex, d.meta_value(d.htype, failed=1, poisoned=1, gen=d.hgen))
        m.next = "PARENT_DEC"

    # release the request entries the walk returned (a lost entry ends the release)
    with m.State("FREE_POOL"):
        m.d.comb += e.busy.eq(1)
        _walker_job(m, d, release=1, head=d.wp, count=d.wgood)
        with m.If(d.walker.req.ready):
            m.next = "FREE_POOL_WAIT"

    with m.State("FREE_POOL_WAIT"):
        m.d.comb += [e.busy.eq(1), d.walker.resp.ready.eq(1)]
        with m.If(d.walker.resp.valid):
            m.next = "PARENT_DEC"

    # take one off the parent's reference count (never below zero, never a poisoned parent)
    with m.State("RET_DETACH"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += d.events_after.eq(1)
        m.next = "PARENT_DEC"

    # (list flows only: ROW_WAIT worked out the parent, poisoned or detached rows)
    with m.State("PARENT_DEC"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.pd_skip):
            m.next = "PARENT_DONE"
        with m.Elif(d.pd_oob):
            # FIX (differential test): a poisoned row's parent index is the host's list
            # entry's; one outside the parent table names no row. Without this check the
            # port's address truncation wrapped it onto another row and decremented that
            # row's count (the model skips it, like an unreadable parent).
            m.next = "PARENT_DONE"
        with m.Else():
            _coalesce(m, d, d.htype - 1, d.pd_idx, "PARENT_DONE")

    # take the pending decrements off the parent's count (never below zero, never a
    # poisoned or freed parent), then continue where `fret` says
    with m.State("FLUSH_RD"):
        m.d.comb += e.busy.eq(1)
        d.read(d.pend_type, "meta", d.pend_idx)
        m.next = "FLUSH_WAIT"

    with m.State("FLUSH_WAIT"):
        m.d.comb += e.busy.eq(1)
        valid, word, ue = d.rv["meta"]
        with m.If(valid):
            # registered here, changed and written back in FLUSH_UPD: no read response
            # reaches a subtract and a table write in one cycle
            refcount = d.mfield(word, d.pend_type, "u.live.refcount")
            m.d.sync += [d.fl_word.eq(word),
                         d.fl_ok.eq(~ue & d.mfield(word, d.pend_type, "valid")
                                    & ~d.mfield(word, d.pend_type, "poisoned") & (refcount != 0))]
            m.next = "FLUSH_UPD"

    with m.State("FLUSH_UPD"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.fl_ok):
            d.write(d.pend_type, "meta", d.pend_idx,
                    d.io.with_refcount(d.fl_word, d.pend_type,
                                       lambda rc: Mux(rc > d.pend_count, rc - d.pend_count, 0)))
        m.d.sync += [d.pend_valid.eq(d.fset), d.pend_type.eq(d.nx_type), d.pend_idx.eq(d.nx_idx),
                     d.pend_count.eq(1), d.fset.eq(0)]
        with m.Switch(d.fret):
            for k, target in enumerate(FLUSH_RET):
                with m.Case(k):
                    if target == "ADVANCE":
                        m.d.sync += d.e_idx.eq(d.e_idx + 1)
                        m.next = "L_NEXT"
                    else:
                        m.next = target

    with m.State("PARENT_DONE"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += d.events_after.eq(0)
        with m.If(d.events_after):
            m.d.sync += d.ret2.eq(RET["ADVANCE"])
            m.next = "EVENTS"
        with m.Else():
            m.next = "RET_ADVANCE"


FLUSH_RET = ("ADVANCE", "PARENT_DONE", "L_NEXT", "COMPLETE")


def _flush(m, d, then, set_next=False):
    """Go and apply the pending decrement, then continue at `then` (FLUSH_RET)."""
    m.d.sync += [d.fret.eq(FLUSH_RET.index(then)), d.fset.eq(set_next)]
    m.next = "FLUSH_RD"


def _coalesce(m, d, ptype, pidx, then):
    """One more decrement for parent (ptype, pidx): folded into the pending one when it
    is the same parent, otherwise the pending one is flushed first."""
    same = Signal()
    m.d.comb += same.eq(d.pend_valid & (d.pend_type == ptype) & (d.pend_idx == pidx))
    with m.If(same | ~d.pend_valid):
        m.d.sync += [d.pend_valid.eq(1), d.pend_type.eq(ptype), d.pend_idx.eq(pidx),
                     d.pend_count.eq(Mux(same, d.pend_count + 1, 1))]
        if then == "ADVANCE":
            m.d.sync += d.e_idx.eq(d.e_idx + 1)
            m.next = "L_NEXT"
        else:
            m.next = then
    with m.Else():
        m.d.sync += [d.nx_type.eq(ptype), d.nx_idx.eq(pidx)]
        _flush(m, d, then, set_next=True)


def _slot_busy_now(d):
    return d.slot_busy.bit_select(d.slot, 1)


_Datapath.slot_busy_now = _slot_busy_now


# ======================================================================================
def _list_states(m, d):
    """QUERY and TERMINATE: docs/interface.md, "QUERY and TERMINATE lists"."""
    e, p = d.eng, d.p
    ent = d.entry

    with m.State("LIST_START"):
        m.d.comb += e.busy.eq(1)
        _list_start(m, d)

    # the next admitted entry (rtl/admit.py checked it and started its row read)
    with m.State("L_NEXT"):
        m.d.comb += [e.busy.eq(1), d.l_wait.eq(1)]
        q = d.admit.entries.payload
        # (an entry is offered only while e_idx < count: the collector reads `count` of
        # them, so the end-of-list compare need not gate the entry register's load)
        with m.If(d.admit.flush_req):
            # a path or neighbor is next: its count must be current before it is checked
            _flush(m, d, "L_NEXT")
        with m.Elif(d.admit.entries.valid):
            m.d.comb += d.admit.entries.ready.eq(1)
            qe = data.View(LIST_ENTRY.amaranth(), q.raw)
            # the emit addresses that are sums, added as the entry is taken (no adder in
            # front of the emit command's payload multiplexer)
            m.d.sync += [d.deleg_addr.eq(qe.state_addr + WRITE_BACK[ObjType.TCP].start),
                         d.rec_addr.eq(qe.req_addr + 8)]
            m.d.sync += [ent.eq(q.raw), d.htype.eq(q.type), d.hindex.eq(q.index), d.hgen.eq(q.gen),
                         d.hrsvd.eq(q.rsvd), d.meta_ue.eq(0), d.ident_ue.eq(0), d.wgood.eq(0),
                         d.wtotal.eq(0), d.walk_abort.eq(0), d.p_hdr.eq(0), d.p_deleg.eq(0),
                         d.slot.eq(q.slot)]
            with m.If(q.err):
                m.d.sync += [d.status.eq(NdisStatus.DEVICE_DATA_ERROR), d.detail.eq(ErrorCode.DMA_READ),
                             d.err_index.eq(d.e_idx)]
                d.set_err(ErrorCode.DMA_READ)
                m.next = "L_DRAIN"
            with m.Elif(~q.has_row):
                m.d.sync += d.code.eq(q.code)
                m.next = "L_REFUSE"
            with m.Else():
                # the whole row is read (meta, ident, data words) and then checked; reads
                # change nothing, and a refusal drops what was read
                m.next = "ROW_WAIT"
        with m.Elif(d.e_idx == d.desc.count[:16]):        # (count <= MAX_LIST_ENTRIES: DECODE)
            m.next = "L_DONE"

    with m.State("L_DRAIN"):
        m.d.comb += [e.busy.eq(1), d.col.drain.eq(1), d.admit.drop.eq(1)]
        with m.If(d.col.done & d.admit.empty):      # every beat in and every entry dropped
            m.next = "L_DONE"

    with m.State("L_DONE"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.pend_valid):
            _flush(m, d, "COMPLETE")
        with m.Else():
            m.next = "COMPLETE"

    # the row's checks (chimney.contract.checks, stage "row"): meta word, SECDED and CRC,
    # evaluated on the RowReader's registered answer as it is taken, so FAST_DECIDE acts
    # on registered verdicts (no field multiplexers or compares in front of its emits)
    with m.State("ROW_WAIT"):
        m.d.comb += e.busy.eq(1)
        r = d.rr.resp.payload
        m.d.comb += d.rr.resp.ready.eq(1)
        f = lambda path: d.mfield(r.meta, d.htype, path)
        req_count = f("u.live.req_count")
        row_out, row_code = evaluate_checks(
            m, facts_namespace(terminate=d.is_term, type=d.htype, gen=d.hgen, parent=ent.parent,
                               req_cap=ent.req_cap, cmd_tag=d.cmd_count[:TAG_BITS],
                               meta_lost=r.meta_ue, valid=f("valid"), failed=f("failed"),
                               poisoned=f("poisoned"), row_gen=f("gen"), row_parent=f("u.live.parent"),
                               refcount=f("u.live.refcount"), req_count=req_count,
                               freed_tag=f("u.free.freed_tag"), state_lost=r.lost),
            "row", name="row_chk")
        with m.If(d.rr.resp.valid):
            m.d.sync += [d.meta_raw.eq(r.meta), d.meta_ue.eq(r.meta_ue), d.ident_raw.eq(r.ident),
                         d.ident_ue.eq(r.ident_ue), d.crc_bad.eq(r.crc_bad),
                         d.row_out.eq(row_out), d.row_code.eq(row_code), d.has_reqs.eq(req_count != 0)]
            poisoned = f("poisoned") | r.meta_ue
            pidx = Signal(16)
            m.d.comb += pidx.eq(Mux(poisoned, ent.parent, f("u.live.parent")))
            m.d.sync += [d.free_meta.eq(d.meta_value(d.htype, gen=f("gen") + 1,
                                                     **{"u.free.freed_tag": d.cmd_count[:TAG_BITS]})),
                         d.row_parent.eq(f("u.live.parent")),
                         d.pd_skip.eq((d.htype == ObjType.NEIGHBOR) | (f("detached") & ~r.meta_ue)),
                         d.pd_idx.eq(pidx)]
            for t in (ObjType.PATH, ObjType.TCP):        # the parent's table is one type down
                with m.If(d.htype == t):
                    m.d.sync += d.pd_oob.eq(pidx >= p.depth(ObjType(t - 1)))
            m.next = "FAST_DECIDE"

    with m.State("FAST_DECIDE"):
        m.d.comb += e.busy.eq(1)
        row_out, row_code, req_count_nz = d.row_out, d.row_code, d.has_reqs
        with m.If(row_out == CheckOutcome.META_LOST):
            m.next = "L_POISON_NEW"
        with m.Elif(row_out == CheckOutcome.REFUSE):
            m.d.sync += d.code.eq(row_code)
            m.next = "L_REFUSE"
        with m.Elif(row_out == CheckOutcome.FAILED_ROW):
            m.next = "L_FAILED_ROW"
        with m.Elif(row_out == CheckOutcome.STATE_LOST):
            with m.If(d.crc_bad):
                _report_crc(m, d)
            m.next = "L_HWFAIL"
        with m.Elif(d.is_term & (d.htype == ObjType.TCP) & req_count_nz):
            m.next = "WALK_START"
        with m.Elif(d.is_term & (d.htype == ObjType.TCP)):
            # the common case: no requests; the header goes out now
            with m.If(d.push(EmitKind.WORD, addr=ent.req_addr, data=pack(REQ_HEADER, count=0), strb=0xFF)):
                m.next = "FAST_DELEG"
        with m.Elif(d.htype == ObjType.PATH):
            m.next = "FAST_STATUS"
        with m.Else():
            m.next = "FAST_DELEG"

    with m.State("FAST_DELEG"):
        m.d.comb += e.busy.eq(1)
        _push_deleg(m, d, "FAST_STATUS")

    # Status SUCCESS; a TERMINATE frees the row and takes it off its parent's count
    with m.State("FAST_STATUS"):
        m.d.comb += e.busy.eq(1)
        parent = d.row_parent
        with m.If(d.push_status(ent.status_addr, Const(int(NdisStatus.SUCCESS), 32))):
            with m.If(d.is_term):
                d.write(d.htype, "meta", d.hindex, d.free_meta)
                with m.If(d.htype == ObjType.NEIGHBOR):
                    m.d.sync += d.e_idx.eq(d.e_idx + 1)
                    m.next = "L_NEXT"
                with m.Else():
                    _coalesce(m, d, d.htype - 1, parent, "ADVANCE")
            with m.Else():
                m.d.sync += d.e_idx.eq(d.e_idx + 1)
                m.next = "L_NEXT"

    # a refused entry: its Status word (when writable), the first refusal is reported
    with m.State("L_REFUSE"):
        m.d.comb += e.busy.eq(1)
        st = Signal(32)
        for c, s in ERROR_STATUS.items():
            with m.If(d.code == c):
                m.d.comb += st.eq(s)
        writable = Signal()
        m.d.comb += writable.eq((ent.status_addr != 0) & (ent.status_addr[:2] == 0))
        done = Signal()
        with m.If(writable):
            m.d.comb += done.eq(d.push_status(ent.status_addr, st))
        with m.Else():
            m.d.comb += done.eq(1)
        with m.If(done):
            d.set_err_dyn(d.code)
            m.d.sync += d.result.eq(d.result + 1)
            with m.If(~d.refused):
                m.d.sync += [d.refused.eq(1), d.detail.eq(d.code), d.err_index.eq(d.e_idx), d.status.eq(st)]
            m.next = "RET_ADVANCE"

    with m.State("RET_ADVANCE"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += d.e_idx.eq(d.e_idx + 1)
        m.next = "L_NEXT"

    with m.State("L_FINISH_OK"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += [d.p_hdr.eq(d.is_term & (d.htype == ObjType.TCP)), d.hdr_val.eq(pack(REQ_HEADER, count=d.wtotal)),
                     d.p_deleg.eq(1), d.status_val.eq(NdisStatus.SUCCESS),
                     d.ret.eq(Mux(d.is_term, RET["FREE"], RET["ADVANCE"]))]
        m.next = "EMIT_HDR"

    # first detection of lost state in a row whose meta word is intact
    with m.State("L_HWFAIL"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += [d.p_hdr.eq(d.is_term & (d.htype == ObjType.TCP)), d.hdr_val.eq(0),
                     d.p_deleg.eq(0), d.status_val.eq(NdisStatus.FAILURE), d.wgood.eq(0)]
        d.set_err(ErrorCode.ECC_UNCORRECTABLE)
        with m.If(d.is_term & (d.htype != ObjType.TCP)):
            # a path or neighbor cannot be retrieved later: this terminate ends it
            m.d.sync += d.ret.eq(RET["FREE"])
        with m.Elif(d.is_term):
            # the connection stays (failed) until the host terminates it again, but the
            # host is done with its path: release that reference now (detached)
            d.write(d.htype, "meta", d.hindex, d.meta_raw | META_FAILED | META_DETACHED)
            m.d.sync += d.ret.eq(RET["DETACH"])
        with m.Else():
            d.write(d.htype, "meta", d.hindex, d.meta_raw | META_FAILED)
            m.d.sync += d.ret.eq(Mux(d.htype == ObjType.TCP, RET["EVENTS_ADVANCE"], RET["ADVANCE"]))
        m.d.sync += [d.ev_handle.eq(ent.handle), d.ev_host.eq(Mux(d.ident_ue, 0, d.ident.host_handle))]
        m.next = "EMIT_HDR"

    with m.State("RET_EVENTS_ADVANCE"):
        m.d.comb += e.busy.eq(1)
        m.d.sync += d.ret2.eq(RET["ADVANCE"])
        m.next = "EVENTS"

    # the row was already failed (or poisoned) when this entry reached it
    with m.State("L_FAILED_ROW"):
        m.d.comb += e.busy.eq(1)
        poisoned = d.mfield(d.meta_raw, d.htype, "poisoned")
        m.d.sync += [d.p_deleg.eq(0), d.status_val.eq(NdisStatus.FAILURE)]
        with m.If(~d.is_term):
            m.d.sync += [d.p_hdr.eq(0), d.ret.eq(RET["ADVANCE"])]
            m.next = "EMIT_HDR"
        with m.Elif((d.htype == ObjType.TCP) & ~poisoned):
            m.d.sync += d.walk_abort.eq(1)
            m.next = "WALK_START"
        with m.Elif(d.htype == ObjType.TCP):
            m.d.sync += [d.p_hdr.eq(1), d.hdr_val.eq(pack(REQ_HEADER, list_lost=1)), d.ret.eq(RET["QUARANTINE"])]
            m.next = "EMIT_HDR"
        with m.Else():
            m.d.sync += [d.p_hdr.eq(0), d.ret.eq(Mux(poisoned, RET["QUARANTINE"], RET["FREE"]))]
            m.next = "EMIT_HDR"

    # the meta word itself cannot be read: generation and links are unknown
    with m.State("L_POISON_NEW"):
        m.d.comb += e.busy.eq(1)
        d.set_err(ErrorCode.ECC_UNCORRECTABLE)
        m.d.sync += [d.quarantined.eq(d.quarantined + 1), d.p_deleg.eq(0), d.status_val.eq(NdisStatus.FAILURE),
                     d.ev_handle.eq(ent.handle), d.ev_host.eq(Mux(d.ident_ue, 0, d.ident.host_handle)),
                     d.hdr_val.eq(pack(REQ_HEADER, list_lost=1)), d.p_hdr.eq(d.is_term & (d.htype == ObjType.TCP))]
        with m.If(d.is_term & (d.htype != ObjType.TCP)):
            m.d.sync += d.ret.eq(RET["QUARANTINE"])
        with m.Elif(d.is_term):
            d.write(d.htype, "meta", d.hindex,
                    d.meta_value(d.htype, valid=1, failed=1, poisoned=1, detached=1, gen=d.hgen,
                                 **{"u.live.parent": ent.parent}))
            m.d.sync += d.ret.eq(RET["DETACH"])
        with m.Else():
            d.write(d.htype, "meta", d.hindex,
                    d.meta_value(d.htype, valid=1, failed=1, poisoned=1, gen=d.hgen,
                                 **{"u.live.parent": ent.parent}))
            m.d.sync += d.ret.eq(Mux(d.htype == ObjType.TCP, RET["EVENTS_ADVANCE"], RET["ADVANCE"]))
        m.next = "EMIT_HDR"

    # ---- walk the connection's request list, writing one record per request ----
    with m.State("WALK_START"):
        m.d.comb += e.busy.eq(1)
        count = d.mfield(d.meta_raw, d.htype, "u.live.req_count")
        m.d.sync += [d.wtotal.eq(count), d.wok.eq(1), d.wgood.eq(0),
                     d.wp.eq(d.mfield(d.meta_raw, d.htype, "u.live.req_head"))]
        with m.If(count == 0):
            m.next = "WALK_END"
        with m.Else():
            with m.If(d.push(EmitKind.RECORDS, addr=d.rec_addr, count=count)):
                m.next = "WALK_GO"

    with m.State("WALK_GO"):
        m.d.comb += e.busy.eq(1)
        _walker_job(m, d, release=0, head=d.wp, count=d.wtotal, abort=d.walk_abort,
                    tail=d.mfield(d.meta_raw, d.htype, "u.live.req_tail"))
        with m.If(d.walker.req.ready):
            m.next = "WALK_WAIT"

    with m.State("WALK_WAIT"):
        m.d.comb += [e.busy.eq(1), d.walker.resp.ready.eq(1)]
        with m.If(d.walker.resp.valid):
            m.d.sync += [d.wgood.eq(d.walker.resp.payload.good), d.wok.eq(d.walker.resp.payload.ok)]
            m.next = "WALK_END"

    with m.State("WALK_END"):
        m.d.comb += e.busy.eq(1)
        with m.If(d.walk_abort):
            # terminate of a failed connection: every tracked request is aborted
            m.d.sync += [d.p_hdr.eq(1), d.hdr_val.eq(pack(REQ_HEADER, count=d.wgood, list_lost=~d.wok)),
                         d.ret.eq(RET["FREE"])]
            m.next = "EMIT_HDR"
        with m.Elif(d.wok):
            m.next = "L_FINISH_OK"
        with m.Else():
            m.next = "L_HWFAIL"


# ======================================================================================
def _flow_states(m, d):
    """Waiting for a command flow (OFFLOAD, POST, UPDATE) or the scrubber's finding to end,
    and what follows: the events it asks for, the completion or refusal, publishing."""
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
                    m.d.sync += [d.ev_handle.eq(r.ev_handle), d.ev_host.eq(r.ev_host), d.ret2.eq(RET["REFUSE_CMD"])]
                    m.next = "EVENTS"
                with m.Else():
                    m.next = "CMD_REFUSE"

    with m.State("RET_REFUSE_CMD"):
        m.d.comb += e.busy.eq(1)
        m.next = "CMD_REFUSE"

    with m.State("SCRUB_WAIT"):
        r = d.sf.done.payload
        m.d.comb += [e.busy.eq(1), d.sf.done.ready.eq(1)]
        with m.If(d.sf.done.valid):
            with m.If(r.events):
                m.d.sync += [d.ev_handle.eq(r.ev_handle), d.ev_host.eq(r.ev_host), d.ret2.eq(RET["SCRUB_PUBLISH"])]
                m.next = "EVENTS"
            with m.Else():
                m.next = "SF_PUBLISH"

    with m.State("RET_SCRUB_PUBLISH"):
        m.d.comb += e.busy.eq(1)
        m.next = "SF_PUBLISH"

    with m.State("SF_PUBLISH"):
        m.d.comb += e.busy.eq(1)
        _ring_job(m, d, RingJob.PUBLISH)
        with m.If(d.writer.req.ready):
            m.next = "IDLE"
