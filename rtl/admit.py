"""List-entry admission: checks each QUERY/TERMINATE entry and starts its row read, early
when that cannot change what the engine does.

    entry_in   In(stream)   list entries from EntryWindows (raw 256 bits, DMA error, and
                            whether its addresses lie inside the DMA windows)
    entries    Out(stream)  admitted entries, in list order, to the sequencer: the entry,
                            its handle fields, the first data word's address, the entry-stage
                            check result (`code`: chimney.contract.checks, 0 = passed), whether
                            a refused entry's Status word may be written (`status_ok`), whether
                            a row read was started (`has_row`) and into which emitter slot
    row_req    Out(stream)  row reads, to the RowReader (one per `has_row` entry, in order)
    peek_*     In           the RowReader's early copy of a row's meta word
    flush_req  Out          a path or neighbor entry waits: the sequencer must first apply its
                            pending parent decrement (the entry's checks read that count)

What it decides: *when* an entry may start. The sequencer finishes entries one at a time;
the next entry's row is read while the current one finishes only if the current one will
read no table again (no request-list walk, no pool release, no parent-count flush), so
every table read happens in the order the reference model makes it. Concretely, with
entry k in the sequencer, entry k+1 is admitted early when k is a TCP entry whose meta
word (peeked) says it has no requests to walk in a TERMINATE, whose parent matches the
pending decrement's (so its own decrement coalesces without a read), and k+1 is a TCP
entry of another row whose emitter slot is free. Everything else waits until the
sequencer is drained (waiting for an entry, nothing admitted).

The checks read the collector's FIFO output register; a register slice holds the entry
with its check result and row base, so the checks and the admission decision are
separate cycles and the FIFO sees a registered ready.
"""

from amaranth.hdl import Module, Signal, Mux, ResetInserter
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, HANDLE, LIST_ENTRY, meta_layout

from chimney.contract.checks import status_writable

from .decide import CheckOutcome, evaluate_checks, facts_namespace
from .emitter import ROW_SLOTS, SLOT_SEL_BITS
from .rowreader import ROW_REQ
from .pack import row_base, or_all
from .skid import SkidBuffer
from .windows import WINDOWED

__all__ = ["ADMITTED", "EntryAdmit"]

ADMITTED = data.StructLayout({
    "raw": 256, "err": 1, "type": 2, "index": 16, "gen": 8, "rsvd": 6, "base": 24,
    "code": 8, "has_row": 1, "slot": SLOT_SEL_BITS, "status_ok": 1,
})
#: a list entry with its entry-stage check result, registered before admission decides
CHECKED = data.StructLayout({"raw": 256, "err": 1, "code": 8, "wants_row": 1, "base": 24, "is_tcp": 1,
                             "row_conflict": 1, "status_ok": 1})


class EntryAdmit(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "entry_in": In(stream.Signature(WINDOWED)),
            "entries": Out(stream.Signature(ADMITTED)),
            "row_req": Out(stream.Signature(ROW_REQ)),
            "peek_valid": In(1), "peek_meta": In(64), "peek_ue": In(1),
            "start": In(1),               # a list begins: nothing admitted, slots free
            "drop": In(1),                # discard everything (a list read error)
            "is_term": In(1),
            "seq_waiting": In(1),         # the sequencer waits for an entry (finished the last)
            "pend_valid": In(1), "pend_type": In(2), "pend_idx": In(16),
            "slot_busy": In(ROW_SLOTS),   # the emitter still sends a slot's delegated bytes
            "flush_req": Out(1),
            "empty": Out(1),              # nothing held here
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # stage 1 reads the collector's FIFO output register (SyncFIFOBuffered) and answers
        # with the check stage's registered ready
        # stage 1: the entry checks and the row's base address, registered (a second slice)
        m.submodules.checked = checked = ResetInserter(self.start | self.drop)(SkidBuffer(CHECKED))
        raw_in = self.entry_in.payload
        h_in = data.View(HANDLE.amaranth(), raw_in.raw[:32])
        le_in = data.View(LIST_ENTRY.amaranth(), raw_in.raw)
        depth, base_in = Signal(17), Signal(24)
        for t in ObjType:
            with m.If(h_in.type == t):
                m.d.comb += [depth.eq(p.depth(t)), base_in.eq(row_base(t, h_in.index))]
        facts = facts_namespace(terminate=self.is_term, type=h_in.type, index=h_in.index, gen=h_in.gen,
                                rsvd=h_in.rsvd, depth=depth, status_addr=le_in.status_addr,
                                state_addr=le_in.state_addr, req_addr=le_in.req_addr, parent=le_in.parent,
                                req_cap=le_in.req_cap, status_win=raw_in.status_win,
                                state_win=raw_in.state_win, req_win=raw_in.req_win)
        outcome, code_in = evaluate_checks(m, facts, "entry", name="admit_chk")
        c = checked.i.payload
        wants_row_in = Signal()
        m.d.comb += wants_row_in.eq(~raw_in.err & (outcome == CheckOutcome.PASS))
        m.d.comb += [checked.i.valid.eq(self.entry_in.valid), self.entry_in.ready.eq(checked.i.ready),
                     c.raw.eq(raw_in.raw), c.err.eq(raw_in.err), c.code.eq(code_in),
                     c.wants_row.eq(wants_row_in), c.base.eq(base_in),
                     c.is_tcp.eq(h_in.type == ObjType.TCP), c.status_ok.eq(status_writable(facts))]

        # stage 2: admission, on the registered check result
        item = checked.o.payload
        h = data.View(HANDLE.amaranth(), item.raw[:32])
        le = data.View(LIST_ENTRY.amaranth(), item.raw)
        is_tcp, wants_row, base, code = item.is_tcp, item.wants_row, item.base, item.code

        # ---- what is in flight: two admitted entries (q0 is the sequencer's next), and the
        # one the sequencer works on (`cur`, finished when it takes the next or waits) ----
        q = [Signal(ADMITTED, name=f"q{i}") for i in range(2)]
        qv = [Signal(name=f"q{i}_valid") for i in range(2)]
        m.d.comb += [self.entries.payload.eq(q[0]), self.entries.valid.eq(qv[0])]
        cur_valid, cur_row, cur_index, cur_slot = Signal(), Signal(), Signal(16), Signal(SLOT_SEL_BITS)
        drained = Signal()
        m.d.comb += drained.eq(self.seq_waiting & ~qv[0])
        take = Signal()
        m.d.comb += take.eq(self.entries.valid & self.entries.ready)
        last_tcp = Signal()
        quiet = Signal()                 # the last admitted entry will read no table again
        peek_due = Signal()              # ... its meta word has not been peeked yet
        ff_last = Signal()               # ... its own decrement needs no flush
        run_any, run_parent = Signal(), Signal(16)    # what the pending decrement can be after it
        reserved = Signal(ROW_SLOTS)     # slots of entries admitted and not finished

        # Does the entry entering the check stage read a row that an entry ahead of it
        # (unfinished, queued, or still in the check stage) also reads? Worked out as it
        # enters, against that superset of what can be in flight when it reaches the head,
        # so the admission decision does no index compares; a conflict that has finished
        # by then only costs the early start (the entry waits for the drain instead).
        ahead = [(cur_valid & cur_row, cur_index),
                 (qv[0] & q[0].has_row, q[0].index), (qv[1] & q[1].has_row, q[1].index),
                 (checked.o.valid & checked.o.payload.wants_row,
                  data.View(HANDLE.amaranth(), checked.o.payload.raw[:32]).index),
                 (checked.skid_valid & checked.skid_data.wants_row,
                  data.View(HANDLE.amaranth(), checked.skid_data.raw[:32]).index)]
        # (not ANDed with wants_row_in here: the entry checks and these compares are separate
        # trees into this register; admission ANDs the two registered bits)
        m.d.comb += c.row_conflict.eq(or_all([v & (i == h_in.index) for v, i in ahead]))

        # the peeked meta word of the last admitted row
        req_count = data.View(meta_layout(p, ObjType.TCP).amaranth(), self.peek_meta).u.live.req_count
        with m.If(self.peek_valid & peek_due):
            walk_free = ~self.is_term | self.peek_ue | (req_count == 0)
            m.d.sync += [peek_due.eq(0), quiet.eq(last_tcp & walk_free & ff_last)]

        # ---- may the entry at the head go now? --------------------------------------------
        run_match = Signal()             # its decrement would coalesce with the pending one
        m.d.comb += run_match.eq(~self.is_term | Mux(
            drained, ~self.pend_valid | ((self.pend_type == ObjType.PATH) & (self.pend_idx == le.parent)),
            run_any | (run_parent == le.parent)))
        # the lowest slot neither reserved nor still being sent
        taken_slots = Signal(ROW_SLOTS)
        m.d.comb += taken_slots.eq(self.slot_busy | Mux(drained, 0, reserved))
        slot, slot_free = Signal(SLOT_SEL_BITS), Signal()
        for i in reversed(range(ROW_SLOTS)):
            with m.If(~taken_slots[i]):
                m.d.comb += [slot.eq(i), slot_free.eq(1)]
        early = Signal()                 # admitted while earlier entries are unfinished
        m.d.comb += early.eq(~drained & quiet & ~peek_due & is_tcp & ~item.err & ~(item.row_conflict & wants_row))
        # a path or neighbor waits until the pending decrement is applied (its count is
        # checked); `drained` means no entry can be taken this cycle, so `take` is not needed
        m.d.comb += self.flush_req.eq(checked.o.valid & ~self.drop & drained & ~is_tcp & ~item.err
                                      & self.pend_valid)
        # (not gated by `take`: the queue can pop and push in one cycle, so the sequencer's
        # ready does not reach this decision)
        go = Signal()
        with m.If(checked.o.valid & ~qv[1] & ~self.drop & ~self.flush_req & (drained | early)):
            m.d.comb += go.eq(~wants_row | (slot_free & self.row_req.ready))

        m.d.comb += [
            checked.o.ready.eq(go | self.drop),
            self.row_req.valid.eq(go & wants_row),
            self.row_req.payload.type.eq(h.type), self.row_req.payload.index.eq(h.index),
            self.row_req.payload.base.eq(base), self.row_req.payload.slot.eq(slot),
            self.row_req.payload.with_meta.eq(1),
        ]
        new = Signal(ADMITTED)
        m.d.comb += [new.raw.eq(item.raw), new.err.eq(item.err), new.type.eq(h.type), new.index.eq(h.index),
                     new.gen.eq(h.gen), new.rsvd.eq(h.rsvd), new.base.eq(base), new.code.eq(code),
                     new.has_row.eq(wants_row), new.slot.eq(slot), new.status_ok.eq(item.status_ok)]
        # slots: the finished entry's is released, a new row's is reserved (both may happen)
        release, claim = Signal(ROW_SLOTS), Signal(ROW_SLOTS)
        with m.If(take):
            # the sequencer finished `cur`: its slot is free once the emitter has sent it
            m.d.sync += [cur_valid.eq(1), cur_row.eq(q[0].has_row), cur_index.eq(q[0].index),
                         cur_slot.eq(q[0].slot)]
            with m.If(cur_valid & cur_row):
                m.d.comb += release.eq(1 << cur_slot)
        with m.Elif(drained):
            m.d.sync += cur_valid.eq(0)
            m.d.comb += release.eq(reserved)
        with m.If(go & wants_row):
            m.d.comb += claim.eq(1 << slot)
        m.d.sync += reserved.eq((reserved & ~release) | claim)
        # the queue: q0 is the sequencer's next entry; `go` never sees q1 full. The payload
        # registers load without `go` (an empty one follows `new`; q0 shifts on a take), so
        # their wide enables are shallow; only the valid bits wait for the decision.
        with m.If(take):
            m.d.sync += q[0].eq(Mux(qv[1], q[1], new))
        with m.Elif(~qv[0]):
            m.d.sync += q[0].eq(new)
        with m.If(~qv[1]):
            m.d.sync += q[1].eq(new)
        with m.If(take & go):
            m.d.sync += qv[0].eq(1)
        with m.Elif(take):
            m.d.sync += [qv[0].eq(qv[1]), qv[1].eq(0)]
        with m.Elif(go):
            with m.If(qv[0]):
                m.d.sync += qv[1].eq(1)
            with m.Else():
                m.d.sync += qv[0].eq(1)
        with m.If(go):
            m.d.sync += last_tcp.eq(is_tcp)
            with m.If(wants_row):
                m.d.sync += [peek_due.eq(1), quiet.eq(0), ff_last.eq(run_match),
                             run_any.eq(0), run_parent.eq(le.parent)]
            with m.Else():
                # no row: reads nothing; a path/neighbor or an error still makes the next wait
                m.d.sync += [quiet.eq(is_tcp & ~item.err), peek_due.eq(0)]
                with m.If(drained):
                    m.d.sync += [run_any.eq(~self.pend_valid), run_parent.eq(self.pend_idx)]
                    with m.If(self.pend_valid & (self.pend_type != ObjType.PATH)):
                        m.d.sync += quiet.eq(0)
        with m.If(self.start | self.drop):
            m.d.sync += [qv[0].eq(0), qv[1].eq(0), cur_valid.eq(0), reserved.eq(0), quiet.eq(0),
                         peek_due.eq(0)]
        m.d.comb += self.empty.eq(~qv[0] & ~qv[1] & ~checked.o.valid)
        return m
