"""The emitter: every byte the engine writes to host memory passes through here, in order.

The command engine queues emit commands; the emitter turns each into one DMA write
job and its data beats:

  RECORDS  `count` request records, beats taken from the `rec` stream
  WORD     one beat (a status word, a request header) with a byte strobe
  DELEG    an object's delegated bytes, formatted from a row slot into NDIS layout
  RING     a 16-byte completion or event entry (two beats)
  FENCE    no data: waits until every earlier write has its response, then pulses
           `fence_done` (a completion entry is queued only after its fence)

Two halves keep the W channel busy: the request half pushes job descriptors ahead;
the data half starts the next command's beats in the cycle after the previous
command's last beat. The two row slots let the engine assemble object k+1 while
object k's delegated bytes are still going out.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import wiring, data, enum, stream
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, WRITE_BACK, TCP_DATA, DATA

from .dma import write_req_layout as WriteReq

SLOT_BITS = TCP_DATA.width           # a slot holds the widest data row (TCP, 640 bits)
SLOT_WORDS = SLOT_BITS // 64
#: Row slots: enough that the engine reads rows ahead while earlier objects' delegated
#: bytes still go out, so the write channel, not the row reads, sets the pace.
ROW_SLOTS = 4
SLOT_SEL_BITS = (ROW_SLOTS - 1).bit_length()


class EmitKind(enum.Enum, shape=3):
    RECORDS = 0
    WORD = 1
    DELEG = 2
    RING = 3
    FENCE = 4


def emit_layout(addr_width):
    return data.StructLayout({
        "kind": EmitKind,
        "addr": addr_width,
        "data": 128,          # WORD: low 64 bits; RING: the entry
        "strb": 8,            # WORD
        "count": 16,          # RECORDS
        "obj_type": 2,        # DELEG
        "slot": SLOT_SEL_BITS,  # DELEG
    })


def deleg_beats(obj_type):
    return WRITE_BACK[ObjType(obj_type)].beats()


def format_beat(m, row, obj_type, beat):
    """Beat `beat` of an object's NDIS write-back, built from its data row `row`.

    The structure is written from its header's end (8-byte aligned), so every
    naturally aligned variable lands inside one beat; bytes no variable covers
    (padding, host pointers) are zero.
    """
    wb = WRITE_BACK[ObjType(obj_type)]
    lay = DATA[ObjType(obj_type)]
    lo = wb.start + 8 * beat
    pieces = []                          # (bit offset in the beat, field bits)
    for name, off, size in wb.fields:
        if lo <= off < lo + 8:
            pieces.append((8 * (off - lo), row[lay.offset(name):lay.offset(name) + lay.field(name).width]))
    parts, at = [], 0
    for pos, field in sorted(pieces, key=lambda p: p[0]):
        assert pos >= at and pos + len(field) <= 64, "write-back fields overlap or cross a beat"
        if pos > at:
            parts.append(Const(0, pos - at))
        parts.append(field)
        at = pos + len(field)
    if at < 64:
        parts.append(Const(0, 64 - at))
    # one whole assignment (no partial ones: the Verilog stays plain `assign`s)
    value = Signal(64, name=f"fmt_{ObjType(obj_type).name.lower()}_{beat}")
    m.d.comb += value.eq(Cat(*parts))
    return value


class Emitter(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams(), *, depth=4):
        self.params = params
        self.depth = depth
        self.cmd_layout = emit_layout(params.addr_width)
        super().__init__({
            "cmd": In(stream.Signature(self.cmd_layout)),
            "rec": In(stream.Signature(64)),
            "slot_we": In(1), "slot_sel": In(SLOT_SEL_BITS), "slot_word": In(4), "slot_data": In(64),
            "slot_busy": Out(ROW_SLOTS),
            "wr_req": Out(stream.Signature(WriteReq(params.addr_width))),
            "wr_data": Out(stream.Signature(64)),
            "wr_idle": In(1),
            "fence_done": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self.cmd_layout

        # --- row slots --------------------------------------------------------
        slots = [Signal(SLOT_BITS, name=f"slot{i}") for i in range(ROW_SLOTS)]
        with m.If(self.slot_we):
            for i, slot in enumerate(slots):
                with m.If(self.slot_sel == i):
                    with m.Switch(self.slot_word):
                        for w in range(SLOT_WORDS):
                            with m.Case(w):
                                m.d.sync += slot[64 * w:64 * w + 64].eq(self.slot_data)

        # --- request half: job descriptors, then hand the command to the data half.
        # Each command's job fields (beat count, strobes, whether it has a job) are worked
        # out as it enters the queue, from the engine's registered payload, so the queue's
        # read enable depends only on flops and the DMA's ready.
        qlay = data.StructLayout({"cmd": lay, "beats": 16, "first_strb": 8, "last_strb": 8, "no_job": 1,
                                  "one_beat": 1})
        m.submodules.queue = queue = SyncFIFOBuffered(width=qlay.size, depth=self.depth)
        head = data.View(qlay, queue.r_data)

        def slot_row_of(view, name):
            row = Signal(SLOT_BITS, name=name)
            with m.Switch(view.slot):
                for i, slot in enumerate(slots):
                    with m.Case(i):
                        m.d.comb += row.eq(slot)
            return row

        # beat 0 of each command, formatted as it leaves the request half (a DELEG is
        # queued only once its row slot is complete, and the slot stays busy until sent)
        first = Signal(64)
        first_row = slot_row_of(head.cmd, "first_row")
        with m.Switch(head.cmd.kind):
            with m.Case(EmitKind.WORD, EmitKind.RING):
                m.d.comb += first.eq(head.cmd.data[:64])
            with m.Case(EmitKind.DELEG):
                for t in ObjType:
                    if deleg_beats(t):
                        with m.If(head.cmd.obj_type == t):
                            m.d.comb += first.eq(format_beat(m, first_row, t, 0))
        # the data half's queue holds only what its beats need (no address or strobes), so
        # its output register, loaded as the next command becomes active, stays narrow
        dlay = data.StructLayout({"kind": EmitKind, "first": 64, "data_hi": 64, "obj_type": 2,
                                  "slot": SLOT_SEL_BITS, "beats": 16, "no_job": 1, "one_beat": 1})
        m.submodules.beats = beats = SyncFIFOBuffered(width=dlay.size, depth=self.depth)
        for name in ("kind", "obj_type", "slot"):
            m.d.comb += getattr(data.View(dlay, beats.w_data), name).eq(getattr(head.cmd, name))
        m.d.comb += [data.View(dlay, beats.w_data).first.eq(first),
                     data.View(dlay, beats.w_data).data_hi.eq(head.cmd.data[64:])]
        for name in ("beats", "no_job", "one_beat"):
            m.d.comb += getattr(data.View(dlay, beats.w_data), name).eq(getattr(head, name))

        incoming = data.View(lay, self.cmd.payload)
        entry = Signal(qlay)
        m.d.comb += [
            queue.w_data.eq(entry),
            queue.w_en.eq(self.cmd.valid),
            self.cmd.ready.eq(queue.w_rdy),
        ]
        busy_set = Signal(ROW_SLOTS)
        with m.If(self.cmd.valid & self.cmd.ready & (incoming.kind == EmitKind.DELEG)):
            m.d.comb += busy_set.eq(1 << incoming.slot)

        last_strb = Signal(8, init=0xFF)
        with m.Switch(incoming.kind):
            with m.Case(EmitKind.RECORDS):
                m.d.comb += entry.beats.eq(incoming.count)
            with m.Case(EmitKind.WORD):
                m.d.comb += [entry.beats.eq(1), last_strb.eq(incoming.strb)]
            with m.Case(EmitKind.DELEG):
                for t in ObjType:
                    with m.If(incoming.obj_type == t):
                        wb = WRITE_BACK[t]
                        tail = wb.nbytes % 8
                        m.d.comb += [entry.beats.eq(wb.beats()),
                                     last_strb.eq((1 << tail) - 1 if tail else 0xFF)]
            with m.Case(EmitKind.RING):
                m.d.comb += entry.beats.eq(2)
        m.d.comb += [
            entry.cmd.eq(incoming),
            entry.first_strb.eq(Mux(incoming.kind == EmitKind.WORD, incoming.strb, 0xFF)),
            entry.last_strb.eq(last_strb),
            # commands with no beats (FENCE, empty RECORDS, a path's DELEG) skip the job
            entry.no_job.eq((incoming.kind == EmitKind.FENCE) | (entry.beats == 0)),
            entry.one_beat.eq((incoming.kind != EmitKind.FENCE) & (entry.beats == 1)),
        ]
        m.d.comb += [
            self.wr_req.payload.addr.eq(head.cmd.addr),
            self.wr_req.payload.beats.eq(head.beats),
            self.wr_req.payload.first_strb.eq(head.first_strb),
            self.wr_req.payload.last_strb.eq(head.last_strb),
        ]
        with m.If(queue.r_rdy & beats.w_rdy):
            with m.If(head.no_job):
                m.d.comb += [queue.r_en.eq(1), beats.w_en.eq(1)]
            with m.Else():
                m.d.comb += self.wr_req.valid.eq(1)
                with m.If(self.wr_req.ready):
                    m.d.comb += [queue.r_en.eq(1), beats.w_en.eq(1)]

        # --- data half: beats for each command, no bubble between commands ------
        # the command whose beats are going out (its first data half is already in beat_r)
        act = Signal(data.StructLayout({"kind": EmitKind, "data_hi": 64, "obj_type": 2,
                                        "slot": SLOT_SEL_BITS}))
        act_valid = Signal()
        left = Signal(16)                       # beats still to send for `act`
        left_0, left_1 = Signal(), Signal()     # left == 0, left == 1, kept in flops
        nxt = data.View(dlay, beats.r_data)     # its beat count came with it

        # The beat to send is registered one beat ahead (`beat_r`): beat 0 of the next
        # command as it becomes active, the next beat of the active one as a beat is taken.
        # The slot, type and beat-number multiplexers then lie between flops, not in front
        # of the DMA's W channel. Request records come straight from the `rec` stream.
        # beat `index_next` (>= 1) of the active one: a ring entry's second half or a
        # delegated-state beat past the first (only types with more than one beat)
        index_next = Signal(4)          # index + 1, kept in a register (no adder on the select)
        following = Signal(64)
        act_row = slot_row_of(act, "act_row")
        with m.Switch(act.kind):
            with m.Case(EmitKind.RING):
                m.d.comb += following.eq(act.data_hi)
            with m.Case(EmitKind.DELEG):
                multi = [t for t in ObjType if deleg_beats(t) > 1]
                for t in multi:
                    with m.If((act.obj_type == t) if len(multi) > 1 else 1):
                        with m.Switch(index_next):
                            for b in range(1, deleg_beats(t)):
                                with m.Case(b):
                                    m.d.comb += following.eq(format_beat(m, act_row, t, b))
        beat_r = Signal(64)

        beat = Signal(64)
        beat_ok = Signal()
        with m.Switch(act.kind):
            with m.Case(EmitKind.RECORDS):
                m.d.comb += [beat.eq(self.rec.payload), beat_ok.eq(self.rec.valid)]
            with m.Case(EmitKind.WORD, EmitKind.RING, EmitKind.DELEG):
                m.d.comb += [beat.eq(beat_r), beat_ok.eq(1)]

        sending = Signal()
        m.d.comb += [
            sending.eq(act_valid & ~left_0 & (act.kind != EmitKind.FENCE)),
            self.wr_data.payload.eq(beat),
            self.wr_data.valid.eq(sending & beat_ok),
            self.rec.ready.eq(sending & (act.kind == EmitKind.RECORDS) & self.wr_data.ready),
        ]
        took = Signal()
        m.d.comb += took.eq(self.wr_data.valid & self.wr_data.ready)

        done_now = Signal()       # the active command finishes this cycle
        with m.If(act_valid):
            with m.If(act.kind == EmitKind.FENCE):
                m.d.comb += done_now.eq(self.wr_idle)
                m.d.comb += self.fence_done.eq(self.wr_idle)
            with m.Elif(left_0):
                m.d.comb += done_now.eq(1)
            with m.Elif(took & left_1):
                m.d.comb += done_now.eq(1)
        with m.If(took):
            m.d.sync += [left.eq(left - 1), left_0.eq(left_1), left_1.eq(left == 2),
                         index_next.eq(index_next + 1), beat_r.eq(following)]

        busy_clr = Signal(ROW_SLOTS)
        with m.If(done_now & (act.kind == EmitKind.DELEG)):
            m.d.comb += busy_clr.eq(1 << act.slot)
        busy = Signal(ROW_SLOTS)
        m.d.sync += busy.eq((busy & ~busy_clr) | busy_set)
        m.d.comb += self.slot_busy.eq(busy)

        with m.If(~act_valid | done_now):
            m.d.comb += beats.r_en.eq(1)
            m.d.sync += act_valid.eq(beats.r_rdy)
            with m.If(beats.r_rdy):
                m.d.sync += [act.kind.eq(nxt.kind), act.data_hi.eq(nxt.data_hi), act.obj_type.eq(nxt.obj_type),
                             act.slot.eq(nxt.slot), left.eq(nxt.beats), left_0.eq(nxt.no_job),
                             left_1.eq(nxt.one_beat), index_next.eq(1), beat_r.eq(nxt.first)]

        m.d.comb += self.idle.eq(~act_valid & ~beats.r_rdy & ~queue.r_rdy)
        return m
