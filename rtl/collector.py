"""The read collector: DMA read beats into a word buffer or into 32-byte list entries."""

from amaranth.hdl import Module, Signal, Cat, ResetInserter
from amaranth.lib import wiring, data, stream
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .dma import READ_BEAT as ReadBeat
from .flow import MAX_WORDS

__all__ = ["ReadCollector"]


#: one list entry as the collector hands it on: its 256 bits and whether its read failed
LIST_ITEM = data.StructLayout({"raw": 256, "err": 1})


class ReadCollector(wiring.Component):
    """Consumes DMA read beats: into a word buffer (descriptors, load blocks) or as
    32-byte list entries into a small FIFO (QUERY/TERMINATE lists). `drain` discards
    the rest of the current request, so a command that stops early never leaves beats
    behind for the next one. `start` marks the beginning of a new request and empties
    the FIFO; it is registered here (no beat of the new request can arrive in the cycle
    after its read request leaves), so the sequencer's decision does not reach the beat
    path in the same cycle. `done` says the collector is idle: the request's last beat has arrived
    and every list entry has left the FIFO (a buffered FIFO shows an entry on its read
    side only two cycles after the write, so its level, not `entry.valid`, says empty)."""

    def __init__(self):
        super().__init__({
            "beats": In(stream.Signature(ReadBeat)),
            "list_mode": In(1),
            "drain": In(1),
            "start": In(1),
            # the words as one flat port: element names like `buf[4]` of an array port
            # collided in yosys' flattened netlist with bit 4 of `buf` (nextpnr: "multiply
            # driven"); `word(i)` is word i
            "words": Out(64 * MAX_WORDS),
            "buf_count": Out(8), "buf_err": Out(1),
            "done": Out(1),                          # last beat arrived, no entry left
            "entry": Out(stream.Signature(LIST_ITEM)),
        })

    def word(self, i):
        return self.words[64 * i:64 * i + 64]

    def elaborate(self, platform):
        m = Module()
        fifo = SyncFIFOBuffered(width=257, depth=4)
        start = Signal()                              # `start`, a cycle later
        m.d.sync += start.eq(self.start)
        # whatever an earlier request left (it never should) cannot reach this one
        m.submodules.fifo = ResetInserter(start)(fifo)
        acc = Signal(192)                             # first three beats of an entry
        acc_n = Signal(2)
        acc_err = Signal()
        done = Signal(init=1)                         # the request's last beat has arrived
        m.d.comb += [
            self.entry.payload.eq(fifo.r_data),
            self.entry.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.entry.ready),
            self.done.eq(done & ~start & (fifo.level == 0)),
        ]
        beat = self.beats.payload
        with m.If(start):
            m.d.sync += [acc_n.eq(0), acc_err.eq(0), self.buf_count.eq(0), self.buf_err.eq(0), done.eq(0)]
        with m.Elif(self.drain | ~self.list_mode):
            m.d.comb += self.beats.ready.eq(~done)
        with m.Else():
            m.d.comb += self.beats.ready.eq(~done & ((acc_n != 3) | fifo.w_rdy))
        take = Signal()
        m.d.comb += take.eq(self.beats.valid & self.beats.ready)
        with m.If(take):
            with m.If(beat.last):
                m.d.sync += done.eq(1)
            with m.If(self.drain):
                pass
            with m.Elif(~self.list_mode):
                with m.Switch(self.buf_count):
                    for i in range(MAX_WORDS):
                        with m.Case(i):
                            m.d.sync += self.word(i).eq(beat.data)
                m.d.sync += [self.buf_count.eq(self.buf_count + 1), self.buf_err.eq(self.buf_err | beat.err)]
            with m.Else():
                m.d.sync += [acc.eq(Cat(acc[64:], beat.data)), acc_n.eq(acc_n + 1),
                             acc_err.eq(acc_err | beat.err)]
                with m.If(acc_n == 3):
                    m.d.comb += [fifo.w_en.eq(1), fifo.w_data.eq(Cat(acc, beat.data, acc_err | beat.err))]
                    m.d.sync += acc_err.eq(0)
        return m
