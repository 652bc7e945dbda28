"""QUERY and TERMINATE lists (docs/interface.md, "QUERY and TERMINATE lists"): the list
flow takes the admitted entries one at a time, in list order, and finishes each.

    (CommandFlow ports: start, desc, done, tables, ecc_err, quarantine, upset; `done`
    carries LIST_DONE: the completion's status, detail, err_index and result)
    cmd_tag      In             the tag a freed row records (the command counter's low bits)
    entries      In(stream)     admitted entries from EntryAdmit, with their entry-stage
                                check code and whether their row read was started
    flush_req    In             EntryAdmit: a path or neighbor entry waits for the pending
                                parent decrement to be applied first
    seq_waiting  Out            this flow waits for an entry (EntryAdmit's `drained`)
    pend_valid, pend_type, pend_idx   Out   the pending parent decrement (EntryAdmit reads it)
    admit_drop   Out, admit_empty In   discard the admitted entries after a list read error
    col_drain    Out, col_done In      ... and the collector's remaining beats
    row_resp     In(stream)     the row, read and verified by the RowReader (ROW_RESP, with
                                the meta fields the checks read already picked for its type)
    emit         Out(stream)    request headers, delegated bytes, Status words, record runs
    walk         Out(stream), walk_done In(stream)   the request walker's walks and releases
    events       Out(stream)    Retrieve(HardwareFailure) + Abort of `handle`: the ring writer's
                                EVENTS job (ready: the job is finished)
    crc_fail, crc_mem, crc_addr   Out   the row CRC caught what SECDED could not
    err_set      Out(32)        ERR_STATUS bits to set (one-cycle)
    slot         Out            the row slot of the last entry taken (UPDATE reads into it)

What it decides, per entry: the row checks (chimney.contract.checks, stage "row") on the
RowReader's registered answer, then which of the dispositions applies: the fast path
(header, delegated bytes, Status SUCCESS, free and parent decrement), a refusal, a failed
or poisoned row, lost state found now, or a request-list walk. Consecutive entries share
their parent, so the parent's count is taken off once per run of entries (`pend_*`),
when the parent changes, before a path or neighbor entry is checked, and at the end.

The router reads the list and starts EntryAdmit before this flow, which ends once every
entry is finished and the pending decrement applied.
"""

from amaranth.hdl import Signal, Const, Cat, Mux
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import (EngineParams, ObjType, Opcode, ErrorCode, ERROR_STATUS, NdisStatus,
                              LIST_ENTRY, REQ_HEADER, IDENT, memory_id, NO_INDEX, WRITE_BACK)
from chimney.contract.rows import GEN_BITS, TAG_BITS

from .admit import ADMITTED
from .decide import CheckOutcome, evaluate_checks, facts_namespace
from .emitter import EmitKind, emit_layout, SLOT_SEL_BITS
from .flow import CommandFlow, META_FAILED, META_DETACHED
from .pack import pack, offer
from .rowreader import row_resp_layout
from .walker import WALK_REQ, WALK_RESP

__all__ = ["LIST_DONE", "EVENTS_JOB", "ListFlow"]

LIST_DONE = data.StructLayout({"status": 32, "detail": 8, "err_index": 16, "result": 32})
EVENTS_JOB = data.StructLayout({"handle": 32, "host_handle": 32})

# where EMIT_STATUS continues (`ret`)
RET = {name: i for i, name in enumerate(("ADVANCE", "FREE", "QUARANTINE", "EVENTS_ADVANCE", "DETACH"))}
# where FLUSH_UPD continues (`fret`); FINISH ends the command
FLUSH_RET = ("ADVANCE", "PARENT_DONE", "L_NEXT", "FINISH")


class ListFlow(CommandFlow):
    NAME = "list"
    FIRST = "L_NEXT"
    DONE_LAYOUT = LIST_DONE

    def __init__(self, params: EngineParams = EngineParams()):
        aw = params.addr_width
        super().__init__(params, {
            "cmd_tag": In(TAG_BITS),
            "entries": In(stream.Signature(ADMITTED)),
            "flush_req": In(1), "seq_waiting": Out(1),
            "pend_valid": Out(1), "pend_type": Out(2), "pend_idx": Out(16),
            "admit_drop": Out(1), "admit_empty": In(1),
            "col_drain": Out(1), "col_done": In(1),
            "row_resp": In(stream.Signature(row_resp_layout(params))),
            "emit": Out(stream.Signature(emit_layout(aw))),
            "walk": Out(stream.Signature(WALK_REQ)), "walk_done": In(stream.Signature(WALK_RESP)),
            "events": Out(stream.Signature(EVENTS_JOB)),
            "crc_fail": Out(1), "crc_mem": Out(5), "crc_addr": Out(24),
            "err_set": Out(32),
            "slot": Out(SLOT_SEL_BITS),
        })

    def setup(self, m):
        p, S = self.params, Signal
        self.is_term = S(name="is_term")
        self.e_idx = S(16, name="e_idx")
        self.refused = S(name="refused")
        self.code = S(8, name="code")
        self.entry = S(LIST_ENTRY.amaranth(), name="entry")
        self.deleg_addr, self.rec_addr = S(p.addr_width, name="deleg_addr"), S(p.addr_width, name="rec_addr")
        self.htype, self.hindex, self.hgen = S(2, name="htype"), S(16, name="hindex"), S(GEN_BITS, name="hgen")
        self.slot_r = S(SLOT_SEL_BITS, name="slot_r")
        self.meta_raw, self.ident_raw, self.ident_ue = S(64, name="meta_raw"), S(64, name="ident_raw"), S(name="ident_ue")
        self.ident = data.View(IDENT.amaranth(), self.ident_raw)
        # the row checks' verdict and what the flow later writes and decides from the
        # meta word, worked out as the row is taken (ROW_WAIT)
        self.row_out, self.row_code, self.has_reqs = S(CheckOutcome, name="row_out"), S(8, name="row_code"), S(name="has_reqs")
        self.crc_bad = S(name="crc_bad")
        self.free_meta = S(64, name="free_meta")        # the row freed: generation + 1, this command's tag
        self.row_parent = S(16, name="row_parent")      # meta.u.live.parent
        self.pd_skip, self.pd_idx, self.pd_oob = S(name="pd_skip"), S(16, name="pd_idx"), S(name="pd_oob")
        # request-list walk (rtl/walker.py does it)
        self.wp, self.wtotal, self.wgood = S(16, name="wp"), S(16, name="wtotal"), S(16, name="wgood")
        self.wok, self.walk_abort = S(name="wok"), S(name="walk_abort")
        # the pending parent decrement and the one that replaces it when it is flushed
        self.pv, self.ptype, self.pidx, self.pcount = S(name="pend_valid_r"), S(2, name="pend_type_r"), \
            S(16, name="pend_idx_r"), S(17, name="pend_count")
        self.nx_type, self.nx_idx, self.fset = S(2, name="nx_type"), S(16, name="nx_idx"), S(name="fset")
        self.fret = S(range(len(FLUSH_RET)), name="fret")
        self.fl_word, self.fl_ok = S(64, name="fl_word"), S(name="fl_ok")
        # pending emits (header, delegated bytes, status) and where EMIT_STATUS goes next
        self.p_hdr, self.p_deleg = S(name="p_hdr"), S(name="p_deleg")
        self.hdr_val, self.status_val = S(64, name="hdr_val"), S(32, name="status_val")
        self.ret = S(range(len(RET)), name="ret")
        self.ev_handle, self.ev_host = S(32, name="ev_handle"), S(32, name="ev_host")
        self.events_after = S(name="events_after")      # PARENT_DEC continues with the events
        # one signal per ERR_STATUS bit (the bits never set stay plain constants in the Verilog)
        self._err_bits = [S(name=f"err_{i}") for i in range(32)]
        m.d.comb += self.err_set.eq(Cat(*self._err_bits))
        self.datapath(m)
        # registered state flags, not decodes: EntryAdmit's decision starts at flops
        m.d.comb += [self.seq_waiting.eq(self.guard.in_state("L_NEXT")),
                     self.col_drain.eq(self.guard.in_state("L_DRAIN")),
                     self.admit_drop.eq(self.guard.in_state("L_DRAIN"))]
        m.d.comb += [self.pend_valid.eq(self.pv), self.pend_type.eq(self.ptype), self.pend_idx.eq(self.pidx),
                     self.slot.eq(self.slot_r)]

    def datapath(self, m):
        """What the states register or write, computed outside the FSM from registers, so
        no state decode sits in front of a multiplexer or compare (the FSM picks enables)."""
        p, io, ent, S = self.params, self.io, self.entry, Signal
        # the row checks (contract stage "row") and what later states write and decide
        r = self.row_resp.payload
        mf = r.facts                    # the meta fields, picked for the row's type by the RowReader
        self.c_row_out, self.c_row_code = evaluate_checks(
            m, facts_namespace(terminate=self.is_term, type=self.htype, gen=self.hgen, parent=ent.parent,
                               req_cap=ent.req_cap, cmd_tag=self.cmd_tag,
                               meta_lost=r.meta_ue, valid=mf.valid, failed=mf.failed,
                               poisoned=mf.poisoned, row_gen=mf.gen, row_parent=mf.parent,
                               refcount=mf.refcount, req_count=mf.req_count,
                               freed_tag=mf.freed_tag, state_lost=r.lost),
            "row", name="row_chk")
        self.c_has_reqs = mf.req_count != 0
        self.c_free_meta = io.meta_value(self.htype, gen=mf.gen + 1, **{"u.free.freed_tag": self.cmd_tag})
        self.c_row_parent = mf.parent
        # a detached row gave its reference back already: the meta word says so, or, when
        # it is lost, the host does (LIST_ENTRY.detached, a TCP entry's only; notes-refmodel 19b)
        self.c_pd_skip = (self.htype == ObjType.NEIGHBOR) | Mux(r.meta_ue, ent.detached & (self.htype == ObjType.TCP),
                                                                  mf.detached)
        self.c_pd_idx = S(16, name="row_pidx")
        m.d.comb += self.c_pd_idx.eq(Mux(mf.poisoned | r.meta_ue, ent.parent, mf.parent))
        self.c_pd_oob = S(name="row_pd_oob")
        for t in (ObjType.PATH, ObjType.TCP):        # the parent's table is one type down
            with m.If(self.htype == t):
                m.d.comb += self.c_pd_oob.eq(self.c_pd_idx >= p.depth(ObjType(t - 1)))
        # the taken row's meta word (registered) by field
        g = lambda path: io.mfield(self.meta_raw, self.htype, path)
        self.m_poisoned, self.m_req_count = g("poisoned"), g("u.live.req_count")
        self.m_req_head, self.m_req_tail = g("u.live.req_head"), g("u.live.req_tail")
        # the meta words L_HWFAIL and L_POISON_NEW write, and RET_QUARANTINE's
        self.c_meta_failed = S(64, name="meta_failed")
        m.d.comb += self.c_meta_failed.eq(self.meta_raw | META_FAILED | Mux(self.is_term, META_DETACHED, 0))
        self.c_meta_poisoned = io.meta_value(self.htype, valid=1, failed=1, poisoned=1, detached=self.is_term,
                                             gen=self.hgen, **{"u.live.parent": ent.parent})
        self.c_meta_quarantined = io.meta_value(self.htype, failed=1, poisoned=1, gen=self.hgen)
        # the parent flush: the parent's meta word as read, then the count taken off
        valid, word, ue = io.rv["meta"]
        self.c_fl_ok = S(name="flush_ok")
        m.d.comb += self.c_fl_ok.eq(~ue & io.mfield(word, self.ptype, "valid")
                                    & ~io.mfield(word, self.ptype, "poisoned")
                                    & (io.mfield(word, self.ptype, "u.live.refcount") != 0))
        self.c_fl_new = io.with_refcount(self.fl_word, self.ptype,
                                         lambda rc: Mux(rc > self.pcount, rc - self.pcount, 0))
        # a refused entry's Status word and whether its address can take it
        self.c_refuse_status = S(32, name="refuse_status")
        for c, st in ERROR_STATUS.items():
            with m.If(self.code == c):
                m.d.comb += self.c_refuse_status.eq(st)
        self.c_status_writable = S(name="status_writable")      # (registered as the entry is taken)
        # the parent run: does (type below, parent) extend the pending decrement?
        self.c_same_row = S(name="pend_same_row")          # FAST_STATUS: the row's own parent
        self.c_same_dec = S(name="pend_same_dec")          # PARENT_DEC: ROW_WAIT's choice
        m.d.comb += [self.c_same_row.eq(self.pv & (self.ptype == self.htype - 1) & (self.pidx == self.row_parent)),
                     self.c_same_dec.eq(self.pv & (self.ptype == self.htype - 1) & (self.pidx == self.pd_idx))]

    def on_start(self, m):
        o = self._out
        m.d.sync += [self.is_term.eq(self.desc.opcode == Opcode.TERMINATE), self.e_idx.eq(0),
                     self.refused.eq(0), self.pv.eq(0),
                     o.status.eq(NdisStatus.SUCCESS), o.err_index.eq(NO_INDEX)]

    # -- helpers --------------------------------------------------------------------------
    def set_err(self, code):
        self._m.d.comb += self._err_bits[int(code)].eq(1)

    def push(self, kind, **fields):
        return offer(self._m, self.emit, kind=kind, **fields)

    def push_status(self, addr, value):
        return self.push(EmitKind.WORD, addr=addr & ~7, data=Mux(addr[2], Cat(Const(0, 32), value), value),
                         strb=Mux(addr[2], 0xF0, 0x0F))

    def push_deleg(self, m, then):
        """The entry's delegated bytes from its row slot (the emitter formats them)."""
        with m.If(self.push(EmitKind.DELEG, addr=self.deleg_addr, obj_type=self.htype, slot=self.slot_r)):
            m.next = then

    def advance(self, m):
        m.d.sync += self.e_idx.eq(self.e_idx + 1)
        m.next = "L_NEXT"

    def goto_ret(self, m):
        with m.Switch(self.ret):
            for name, code in RET.items():
                with m.Case(code):
                    if name == "ADVANCE":
                        self.advance(m)
                    else:
                        m.next = "RET_" + name

    def flush(self, m, then, set_next=False):
        """Apply the pending decrement, then continue at `then` (FLUSH_RET)."""
        m.d.sync += [self.fret.eq(FLUSH_RET.index(then)), self.fset.eq(set_next)]
        m.next = "FLUSH_RD"

    def coalesce(self, m, ptype, pidx, same, then):
        """One more decrement for parent (ptype, pidx): folded into the pending one when it
        is the same parent (`same`, worked out in `datapath`), otherwise the pending one
        is flushed first."""
        with m.If(same | ~self.pv):
            m.d.sync += [self.pv.eq(1), self.ptype.eq(ptype), self.pidx.eq(pidx),
                         self.pcount.eq(Mux(same, self.pcount + 1, 1))]
            if then == "ADVANCE":
                self.advance(m)
            else:
                m.next = then
        with m.Else():
            m.d.sync += [self.nx_type.eq(ptype), self.nx_idx.eq(pidx)]
            self.flush(m, then, set_next=True)

    def end_list(self, m):
        """Every entry is finished: apply the pending decrement, then end the command."""
        with m.If(self.pv):
            self.flush(m, "FINISH")
        with m.Else():
            self.succeed(m)

    # -- states ---------------------------------------------------------------------------
    def states(self, m):
        self._m = m
        self._entry_states(m)
        self._row_states(m)
        self._emit_states(m)
        self._retire_states(m)
        self._walk_states(m)

    def _entry_states(self, m):
        ent, o = self.entry, self._out

        # the next admitted entry (rtl/admit.py checked it and started its row read)
        with m.State("L_NEXT"):
            q = self.entries.payload
            # (an entry is offered only while e_idx < count: the collector reads `count` of
            # them, so the end-of-list compare need not gate the entry register's load)
            with m.If(self.flush_req):
                # a path or neighbor is next: its count must be current before it is checked
                self.flush(m, "L_NEXT")
            with m.Elif(self.entries.valid):
                m.d.comb += self.entries.ready.eq(1)
                qe = data.View(LIST_ENTRY.amaranth(), q.raw)
                # the emit addresses that are sums, added as the entry is taken (no adder in
                # front of the emit command's payload multiplexer)
                m.d.sync += [self.deleg_addr.eq(qe.state_addr + WRITE_BACK[ObjType.TCP].start),
                             self.rec_addr.eq(qe.req_addr + 8)]
                m.d.sync += [ent.eq(q.raw), self.htype.eq(q.type), self.hindex.eq(q.index), self.hgen.eq(q.gen),
                             self.ident_ue.eq(0), self.wgood.eq(0), self.wtotal.eq(0), self.walk_abort.eq(0),
                             self.p_hdr.eq(0), self.p_deleg.eq(0), self.slot_r.eq(q.slot),
                             self.c_status_writable.eq(q.status_ok)]
                with m.If(q.err):
                    m.d.sync += [o.status.eq(NdisStatus.DEVICE_DATA_ERROR), o.detail.eq(ErrorCode.DMA_READ),
                                 o.err_index.eq(self.e_idx)]
                    self.set_err(ErrorCode.DMA_READ)
                    m.next = "L_DRAIN"
                with m.Elif(~q.has_row):
                    m.d.sync += self.code.eq(q.code)
                    m.next = "L_REFUSE"
                with m.Else():
                    # the whole row is read (meta, ident, data words) and then checked; reads
                    # change nothing, and a refusal drops what was read
                    m.next = "ROW_WAIT"
            with m.Elif(self.e_idx == self.desc.count[:16]):    # (count <= MAX_LIST_ENTRIES: the router)
                self.end_list(m)

        with m.State("L_DRAIN"):
            with m.If(self.col_done & self.admit_empty):     # every beat in and every entry dropped
                m.next = "L_DONE"

        with m.State("L_DONE"):
            self.end_list(m)

        # a refused entry: its Status word (when writable), the first refusal is reported
        with m.State("L_REFUSE"):
            st, writable = self.c_refuse_status, self.c_status_writable
            done = Signal(name="refuse_done")
            with m.If(writable):
                m.d.comb += done.eq(self.push_status(ent.status_addr, st))
            with m.Else():
                m.d.comb += done.eq(1)
            with m.If(done):
                for c in ErrorCode:
                    if c:
                        with m.If(self.code == c):
                            self.set_err(c)
                m.d.sync += o.result.eq(o.result + 1)
                with m.If(~self.refused):
                    m.d.sync += [self.refused.eq(1), o.detail.eq(self.code), o.err_index.eq(self.e_idx),
                                 o.status.eq(st)]
                m.next = "RET_ADVANCE"

        with m.State("RET_ADVANCE"):
            self.advance(m)

    def _row_states(self, m):
        io, ent = self.io, self.entry

        # the row's checks (`datapath`: meta word, SECDED, CRC), registered as the row is
        # taken, so FAST_DECIDE acts on registered verdicts
        with m.State("ROW_WAIT"):
            r = self.row_resp.payload
            m.d.comb += self.row_resp.ready.eq(1)
            with m.If(self.row_resp.valid):
                m.d.sync += [self.meta_raw.eq(r.meta), self.ident_raw.eq(r.ident), self.ident_ue.eq(r.ident_ue),
                             self.crc_bad.eq(r.crc_bad), self.row_out.eq(self.c_row_out),
                             self.row_code.eq(self.c_row_code), self.has_reqs.eq(self.c_has_reqs),
                             self.free_meta.eq(self.c_free_meta), self.row_parent.eq(self.c_row_parent),
                             self.pd_skip.eq(self.c_pd_skip), self.pd_idx.eq(self.c_pd_idx),
                             self.pd_oob.eq(self.c_pd_oob)]
                m.next = "FAST_DECIDE"

        with m.State("FAST_DECIDE"):
            with m.If(self.row_out == CheckOutcome.META_LOST):
                m.next = "L_POISON_NEW"
            with m.Elif(self.row_out == CheckOutcome.REFUSE):
                m.d.sync += self.code.eq(self.row_code)
                m.next = "L_REFUSE"
            with m.Elif(self.row_out == CheckOutcome.FAILED_ROW):
                m.next = "L_FAILED_ROW"
            with m.Elif(self.row_out == CheckOutcome.STATE_LOST):
                with m.If(self.crc_bad):
                    # the row CRC caught what SECDED could not (three or more flips)
                    m.d.comb += [self.crc_fail.eq(1), self.crc_addr.eq(self.hindex)]
                    for t in ObjType:
                        with m.If(self.htype == t):
                            m.d.comb += self.crc_mem.eq(memory_id(t, "data"))
                m.next = "L_HWFAIL"
            with m.Elif(self.is_term & (self.htype == ObjType.TCP) & self.has_reqs):
                m.next = "WALK_START"
            with m.Elif(self.is_term & (self.htype == ObjType.TCP)):
                # the common case: no requests; the header goes out now
                with m.If(self.push(EmitKind.WORD, addr=ent.req_addr, data=pack(REQ_HEADER, count=0), strb=0xFF)):
                    m.next = "FAST_DELEG"
            with m.Elif(self.htype == ObjType.PATH):
                m.next = "FAST_STATUS"
            with m.Else():
                m.next = "FAST_DELEG"

        with m.State("FAST_DELEG"):
            self.push_deleg(m, "FAST_STATUS")

        # Status SUCCESS; a TERMINATE frees the row and takes it off its parent's count
        with m.State("FAST_STATUS"):
            with m.If(self.push_status(ent.status_addr, Const(int(NdisStatus.SUCCESS), 32))):
                with m.If(self.is_term):
                    io.write(self.htype, "meta", self.hindex, self.free_meta)
                    with m.If(self.htype == ObjType.NEIGHBOR):
                        self.advance(m)
                    with m.Else():
                        self.coalesce(m, self.htype - 1, self.row_parent, self.c_same_row, "ADVANCE")
                with m.Else():
                    self.advance(m)

        with m.State("L_FINISH_OK"):
            m.d.sync += [self.p_hdr.eq(self.is_term & (self.htype == ObjType.TCP)),
                         self.hdr_val.eq(pack(REQ_HEADER, count=self.wtotal)),
                         self.p_deleg.eq(1), self.status_val.eq(NdisStatus.SUCCESS),
                         self.ret.eq(Mux(self.is_term, RET["FREE"], RET["ADVANCE"]))]
            m.next = "EMIT_HDR"

        host = Mux(self.ident_ue, 0, self.ident.host_handle)
        # first detection of lost state in a row whose meta word is intact
        with m.State("L_HWFAIL"):
            m.d.sync += [self.p_hdr.eq(self.is_term & (self.htype == ObjType.TCP)), self.hdr_val.eq(0),
                         self.p_deleg.eq(0), self.status_val.eq(NdisStatus.FAILURE), self.wgood.eq(0)]
            self.set_err(ErrorCode.ECC_UNCORRECTABLE)
            with m.If(self.is_term & (self.htype != ObjType.TCP)):
                # a path or neighbor cannot be retrieved later: this terminate ends it
                m.d.sync += self.ret.eq(RET["FREE"])
            with m.Elif(self.is_term):
                # the connection stays (failed) until the host terminates it again, but the
                # host is done with its path: release that reference now (detached)
                io.write(self.htype, "meta", self.hindex, self.c_meta_failed)
                m.d.sync += self.ret.eq(RET["DETACH"])
            with m.Else():
                io.write(self.htype, "meta", self.hindex, self.c_meta_failed)
                m.d.sync += self.ret.eq(Mux(self.htype == ObjType.TCP, RET["EVENTS_ADVANCE"], RET["ADVANCE"]))
            m.d.sync += [self.ev_handle.eq(ent.handle), self.ev_host.eq(host)]
            m.next = "EMIT_HDR"

        # the row was already failed (or poisoned) when this entry reached it
        with m.State("L_FAILED_ROW"):
            poisoned = self.m_poisoned
            m.d.sync += [self.p_deleg.eq(0), self.status_val.eq(NdisStatus.FAILURE)]
            with m.If(~self.is_term):
                m.d.sync += [self.p_hdr.eq(0), self.ret.eq(RET["ADVANCE"])]
                m.next = "EMIT_HDR"
            with m.Elif((self.htype == ObjType.TCP) & ~poisoned):
                m.d.sync += self.walk_abort.eq(1)
                m.next = "WALK_START"
            with m.Elif(self.htype == ObjType.TCP):
                m.d.sync += [self.p_hdr.eq(1), self.hdr_val.eq(pack(REQ_HEADER, list_lost=1)),
                             self.ret.eq(RET["QUARANTINE"])]
                m.next = "EMIT_HDR"
            with m.Else():
                m.d.sync += [self.p_hdr.eq(0), self.ret.eq(Mux(poisoned, RET["QUARANTINE"], RET["FREE"]))]
                m.next = "EMIT_HDR"

        # the meta word itself cannot be read: generation and links are unknown
        with m.State("L_POISON_NEW"):
            self.set_err(ErrorCode.ECC_UNCORRECTABLE)
            m.d.comb += self.quarantine.eq(1)
            m.d.sync += [self.p_deleg.eq(0), self.status_val.eq(NdisStatus.FAILURE),
                         self.ev_handle.eq(ent.handle), self.ev_host.eq(host),
                         self.hdr_val.eq(pack(REQ_HEADER, list_lost=1)),
                         self.p_hdr.eq(self.is_term & (self.htype == ObjType.TCP))]
            with m.If(self.is_term & (self.htype != ObjType.TCP)):
                m.d.sync += self.ret.eq(RET["QUARANTINE"])
            with m.Elif(self.is_term):
                io.write(self.htype, "meta", self.hindex, self.c_meta_poisoned)     # (detached)
                m.d.sync += self.ret.eq(RET["DETACH"])
            with m.Else():
                io.write(self.htype, "meta", self.hindex, self.c_meta_poisoned)
                m.d.sync += self.ret.eq(Mux(self.htype == ObjType.TCP, RET["EVENTS_ADVANCE"], RET["ADVANCE"]))
            m.next = "EMIT_HDR"

    def _emit_states(self, m):
        ent, o = self.entry, self._out

        # push the pending request header, delegated bytes and Status word, then `ret`
        with m.State("EMIT_HDR"):
            with m.If(~self.p_hdr):
                m.next = "EMIT_DELEG"
            with m.Else():
                with m.If(self.push(EmitKind.WORD, addr=ent.req_addr, data=self.hdr_val, strb=0xFF)):
                    m.next = "EMIT_DELEG"

        with m.State("EMIT_DELEG"):
            with m.If(~self.p_deleg | (self.htype == ObjType.PATH)):
                m.next = "EMIT_STATUS"
            with m.Else():
                self.push_deleg(m, "EMIT_STATUS")

        with m.State("EMIT_STATUS"):
            with m.If(self.push_status(ent.status_addr, self.status_val)):
                m.d.sync += [self.p_hdr.eq(0), self.p_deleg.eq(0)]
                with m.If(self.status_val != NdisStatus.SUCCESS):
                    m.d.sync += o.result.eq(o.result + 1)
                self.goto_ret(m)

        # Retrieve(HardwareFailure) then Abort for ev_handle (the ring writer), then the next entry
        with m.State("EVENTS"):
            with m.If(offer(m, self.events, handle=self.ev_handle, host_handle=self.ev_host)):
                self.advance(m)

        with m.State("RET_EVENTS_ADVANCE"):
            m.next = "EVENTS"

    def _retire_states(self, m):
        io = self.io

        # free the row: generation + 1, tagged with this command
        with m.State("RET_FREE"):
            io.write(self.htype, "meta", self.hindex, self.free_meta)
            with m.If((self.htype == ObjType.TCP) & (self.wgood != 0)):
                m.d.sync += self.wp.eq(self.m_req_head)
                m.next = "FREE_POOL"
            with m.Else():
                m.next = "PARENT_DEC"

        with m.State("RET_QUARANTINE"):
            io.write(self.htype, "meta", self.hindex, self.c_meta_quarantined)
            m.next = "PARENT_DEC"

        # release the request entries the walk returned (a lost entry ends the release)
        with m.State("FREE_POOL"):
            with m.If(offer(m, self.walk, release=1, head=self.wp, count=self.wgood)):
                m.next = "FREE_POOL_WAIT"

        with m.State("FREE_POOL_WAIT"):
            m.d.comb += self.walk_done.ready.eq(1)
            with m.If(self.walk_done.valid):
                m.next = "PARENT_DEC"

        # take one off the parent's reference count, then the events
        with m.State("RET_DETACH"):
            m.d.sync += self.events_after.eq(1)
            m.next = "PARENT_DEC"

        # (ROW_WAIT worked out the parent, poisoned or detached rows)
        with m.State("PARENT_DEC"):
            with m.If(self.pd_skip):
                m.next = "PARENT_DONE"
            with m.Elif(self.pd_oob):
                # FIX (differential test): a poisoned row's parent index is the host's; one
                # outside the table names no row (truncated, it decremented another row's count)
                m.next = "PARENT_DONE"
            with m.Else():
                self.coalesce(m, self.htype - 1, self.pd_idx, self.c_same_dec, "PARENT_DONE")

        # take the pending decrements off the parent's count (never below zero, never a
        # poisoned or freed parent), then continue where `fret` says
        with m.State("FLUSH_RD"):
            io.read(self.ptype, "meta", self.pidx)
            m.next = "FLUSH_WAIT"

        with m.State("FLUSH_WAIT"):
            valid, word, ue = io.rv["meta"]
            with m.If(valid):
                # registered here, changed and written back in FLUSH_UPD: no read response
                # reaches a subtract and a table write in one cycle
                m.d.sync += [self.fl_word.eq(word), self.fl_ok.eq(self.c_fl_ok)]
                m.next = "FLUSH_UPD"

        with m.State("FLUSH_UPD"):
            with m.If(self.fl_ok):
                io.write(self.ptype, "meta", self.pidx, self.c_fl_new)
            m.d.sync += [self.pv.eq(self.fset), self.ptype.eq(self.nx_type), self.pidx.eq(self.nx_idx),
                         self.pcount.eq(1), self.fset.eq(0)]
            with m.Switch(self.fret):
                for k, target in enumerate(FLUSH_RET):
                    with m.Case(k):
                        if target == "ADVANCE":
                            self.advance(m)
                        elif target == "FINISH":
                            self.succeed(m)
                        else:
                            m.next = target

        with m.State("PARENT_DONE"):
            m.d.sync += self.events_after.eq(0)
            with m.If(self.events_after):
                m.next = "EVENTS"
            with m.Else():
                self.advance(m)

    def _walk_states(self, m):
        io = self.io

        # walk the connection's request list: the walker writes one record per request
        with m.State("WALK_START"):
            count = self.m_req_count
            m.d.sync += [self.wtotal.eq(count), self.wok.eq(1), self.wgood.eq(0), self.wp.eq(self.m_req_head)]
            with m.If(count == 0):
                m.next = "WALK_END"
            with m.Else():
                with m.If(self.push(EmitKind.RECORDS, addr=self.rec_addr, count=count)):
                    m.next = "WALK_GO"

        with m.State("WALK_GO"):
            with m.If(offer(m, self.walk, release=0, head=self.wp, count=self.wtotal, abort=self.walk_abort,
                                    tail=self.m_req_tail)):
                m.next = "WALK_WAIT"

        with m.State("WALK_WAIT"):
            m.d.comb += self.walk_done.ready.eq(1)
            with m.If(self.walk_done.valid):
                m.d.sync += [self.wgood.eq(self.walk_done.payload.good), self.wok.eq(self.walk_done.payload.ok)]
                m.next = "WALK_END"

        with m.State("WALK_END"):
            with m.If(self.walk_abort):
                # terminate of a failed connection: every tracked request is aborted
                m.d.sync += [self.p_hdr.eq(1), self.hdr_val.eq(pack(REQ_HEADER, count=self.wgood, list_lost=~self.wok)),
                             self.ret.eq(RET["FREE"])]
                m.next = "EMIT_HDR"
            with m.Elif(self.wok):
                m.next = "L_FINISH_OK"
            with m.Else():
                m.next = "L_HWFAIL"
