"""A register slice for `lib.stream`: the one registered boundary between two stages.

    i  In(stream.Signature(shape))    upstream: ready comes from a flop
    o  Out(stream.Signature(shape))   downstream: valid and payload come from flops

A skid buffer (two entries: the output register and a skid register). Upstream sees
`ready` = "the skid register is empty", which depends only on this component's flops, so
neither valid/payload nor ready crosses it in one cycle; throughput stays one transfer
per cycle, and a transfer entering at cycle n leaves at n+1 at the earliest. When the
downstream stalls with the output register full, the beat in flight that cycle lands in
the skid register and is sent next, so nothing is lost or reordered.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer", "skid"]


class SkidBuffer(wiring.Component):
    def __init__(self, shape):
        self.shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })
        # the parked beat (read-only outside: a consumer may need to know what is in flight)
        self.skid_valid = Signal()
        self.skid_data = Signal.like(self.i.payload, name="skid_data")

    def elaborate(self, platform):
        m = Module()
        skid_valid, skid_data = self.skid_valid, self.skid_data
        m.d.comb += self.i.ready.eq(~skid_valid)

        out_free = Signal()             # the output register can take a beat this cycle
        m.d.comb += out_free.eq(~self.o.valid | self.o.ready)
        with m.If(out_free):
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid_data), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            # downstream stalled with the output full: park the beat in the skid register
            m.d.sync += skid_valid.eq(1)
        # the skid register follows the input while it is empty, so its (wide) enable is a
        # flop, not the downstream's ready; it is read only once `skid_valid` is set
        with m.If(~skid_valid):
            m.d.sync += skid_data.eq(self.i.payload)
        return m


def skid(m, name, source, sink, shape):
    """`source` to `sink` through a SkidBuffer submodule called `name`; returns the buffer.

    Plain assignments rather than `wiring.connect`, so either end may be a component's
    own port seen from inside (an engine's Out stream it drives) or a free-standing
    interface (`signature.create()`)."""
    buf = SkidBuffer(shape)
    m.submodules[name] = buf
    m.d.comb += [buf.i.valid.eq(source.valid), buf.i.payload.eq(source.payload), source.ready.eq(buf.i.ready),
                 sink.valid.eq(buf.o.valid), sink.payload.eq(buf.o.payload), buf.o.ready.eq(sink.ready)]
    return buf
