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
    value = Signal(64, name=f"fmt_{ObjType(obj_type).name.lower()}_{beat}")
    lo = wb.start + 8 * beat
    for name, off, size in wb.fields:
        if lo <= off < lo + 8:
            field = row[lay.offset(name):lay.offset(name) + lay.field(name).width]
            m.d.comb += value[8 * (off - lo):8 * (off - lo) + len(field)].eq(field)
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

        # --- request half: job descriptors, then hand the command to the data half
        m.submodules.queue = queue = SyncFIFOBuffered(width=lay.size, depth=self.depth)
        cur = data.View(lay, queue.r_data)
        job = Signal(WriteReq(self.params.addr_width))
        m.submodules.beats = beats = SyncFIFOBuffered(width=lay.size, depth=self.depth)
        m.d.comb += beats.w_data.eq(queue.r_data)

        m.d.comb += [
            queue.w_data.eq(self.cmd.payload),
            queue.w_en.eq(self.cmd.valid),
            self.cmd.ready.eq(queue.w_rdy),
        ]
        busy_set = Signal(ROW_SLOTS)
        with m.If(self.cmd.valid & self.cmd.ready & (data.View(lay, self.cmd.payload).kind == EmitKind.DELEG)):
            m.d.comb += busy_set.eq(1 << data.View(lay, self.cmd.payload).slot)

        beats_for = Signal(16)
        last_strb = Signal(8, init=0xFF)
        with m.Switch(cur.kind):
            with m.Case(EmitKind.RECORDS):
                m.d.comb += beats_for.eq(cur.count)
            with m.Case(EmitKind.WORD):
                m.d.comb += [beats_for.eq(1), last_strb.eq(cur.strb)]
            with m.Case(EmitKind.DELEG):
                for t in ObjType:
                    with m.If(cur.obj_type == t):
                        wb = WRITE_BACK[t]
                        tail = wb.nbytes % 8
                        m.d.comb += [beats_for.eq(wb.beats()),
                                     last_strb.eq((1 << tail) - 1 if tail else 0xFF)]
            with m.Case(EmitKind.RING):
                m.d.comb += beats_for.eq(2)
        m.d.comb += [
            job.addr.eq(cur.addr),
            job.beats.eq(beats_for),
            job.first_strb.eq(Mux(cur.kind == EmitKind.WORD, cur.strb, 0xFF)),
            job.last_strb.eq(last_strb),
            self.wr_req.payload.eq(job),
        ]
        # commands with no beats (FENCE, empty RECORDS, a path's DELEG) skip the job
        no_job = Signal()
        m.d.comb += no_job.eq((cur.kind == EmitKind.FENCE) | (beats_for == 0))
        with m.If(queue.r_rdy & beats.w_rdy):
            with m.If(no_job):
                m.d.comb += [queue.r_en.eq(1), beats.w_en.eq(1)]
            with m.Else():
                m.d.comb += self.wr_req.valid.eq(1)
                with m.If(self.wr_req.ready):
                    m.d.comb += [queue.r_en.eq(1), beats.w_en.eq(1)]

        # --- data half: beats for each command, no bubble between commands ------
        act = Signal(lay)                       # command whose beats are going out
        act_valid = Signal()
        left = Signal(16)                       # beats still to send for `act`
        index = Signal(16)                      # beat number within `act`
        nxt = data.View(lay, beats.r_data)

        def count_of(view):
            n = Signal(16)
            with m.Switch(view.kind):
                with m.Case(EmitKind.RECORDS):
                    m.d.comb += n.eq(view.count)
                with m.Case(EmitKind.WORD):
                    m.d.comb += n.eq(1)
                with m.Case(EmitKind.DELEG):
                    for t in ObjType:
                        with m.If(view.obj_type == t):
                            m.d.comb += n.eq(deleg_beats(t))
                with m.Case(EmitKind.RING):
                    m.d.comb += n.eq(2)
            return n

        nxt_count = count_of(nxt)

        # the beat for the active command
        beat = Signal(64)
        beat_ok = Signal()
        slot_row = Signal(SLOT_BITS)
        with m.Switch(act.slot):
            for i, slot in enumerate(slots):
                with m.Case(i):
                    m.d.comb += slot_row.eq(slot)
        formatted = {t: [format_beat(m, slot_row, t, b) for b in range(deleg_beats(t))]
                     for t in ObjType if deleg_beats(t)}
        with m.Switch(act.kind):
            with m.Case(EmitKind.RECORDS):
                m.d.comb += [beat.eq(self.rec.payload), beat_ok.eq(self.rec.valid)]
            with m.Case(EmitKind.WORD):
                m.d.comb += [beat.eq(act.data[:64]), beat_ok.eq(1)]
            with m.Case(EmitKind.RING):
                m.d.comb += [beat.eq(Mux(index[0], act.data[64:], act.data[:64])), beat_ok.eq(1)]
            with m.Case(EmitKind.DELEG):
                m.d.comb += beat_ok.eq(1)
                for t, values in formatted.items():
                    with m.If(act.obj_type == t):
                        with m.Switch(index):
                            for b, value in enumerate(values):
                                with m.Case(b):
                                    m.d.comb += beat.eq(value)

        sending = Signal()
        m.d.comb += [
            sending.eq(act_valid & (left != 0) & (act.kind != EmitKind.FENCE)),
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
            with m.Elif(left == 0):
                m.d.comb += done_now.eq(1)
            with m.Elif(took & (left == 1)):
                m.d.comb += done_now.eq(1)
        with m.If(took):
            m.d.sync += [left.eq(left - 1), index.eq(index + 1)]

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
                m.d.sync += [act.eq(beats.r_data), left.eq(nxt_count), index.eq(0)]

        m.d.comb += self.idle.eq(~act_valid & ~beats.r_rdy & ~queue.r_rdy)
        return m
