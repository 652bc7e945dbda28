"""The completion and event writer: the only stage that writes the two host rings.

    req         In(stream)  one job at a time; `ready` pulses when the job is finished:
                  COMPLETE  fence the command's earlier writes, write its completion entry,
                            fence again, publish CPLQ_PROD and EVTQ_PROD, count the command
                  EVENTS    write Retrieve(HardwareFailure) then Abort for `handle`
                  PUBLISH   publish EVTQ_PROD if events were written (scrubber findings)
    emit        Out(stream) RING and FENCE commands to the emitter
    fence_done  In          the emitter's fence pulse
    halted      In          host memory undefined: write nothing more, finish every job
    seq_take    In          the engine took `seq` for a command's completion
    ring config, host consumer indices (doorbells) in; producer indices, `seq`,
    `cmd_count`, and the completion/event interrupt pulses out.

It decides only two things: whether a ring has room (it waits, like the host, until
it does) and what the next entry's address and phase are. Both are computed from
registers (`*_addr`, `*_phase` follow the producer index a cycle ahead), so no
arithmetic sits between a state and the emitter's inputs.
"""

from amaranth.hdl import Module, Signal, Const, Cat, Mux
from amaranth.lib import wiring, data, enum, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import (EngineParams, COMPLETION, EVENT, TcpEventType, TcpUploadReason)

from .emitter import EmitKind, emit_layout
from .pack import pack

__all__ = ["RingJob", "ring_job_layout", "RingWriter"]


class RingJob(enum.Enum, shape=2):
    COMPLETE = 0
    EVENTS = 1
    PUBLISH = 2


def ring_job_layout():
    return data.StructLayout({
        "job": RingJob,
        # COMPLETE
        "status": 32, "result": 32, "tag": 16, "err_index": 16, "seq": 16, "detail": 8, "opcode": 8,
        # EVENTS
        "handle": 32, "host_handle": 32,
    })




class _Ring:
    """Producer side of one host ring: next index, its entry address and phase (registered)."""

    def __init__(self, m, name, base, log2, cons):
        self.next = Signal(16, name=f"{name}_next")
        self.addr = Signal(64, name=f"{name}_addr")        # address of entry `next`
        self.phase = Signal(name=f"{name}_phase")
        self.base, self.log2, self.cons = base, log2, cons
        mask = Signal(16, name=f"{name}_mask")
        m.d.sync += mask.eq((Const(1, 17) << log2) - 1)      # configuration: static while enabled
        # the address and phase of entry `next`, re-registered every cycle from registers.
        # The entry offset is below 2**20 (2**15 entries of 16 bytes), so only the low 20
        # bits are added; the high bits are the base's or the base's + 1, both registered
        lo = Signal(21, name=f"{name}_addr_lo")
        hi, hi1 = Signal(44, name=f"{name}_addr_hi"), Signal(44, name=f"{name}_addr_hi1")
        m.d.sync += [lo.eq(base[:20] + ((self.next & mask) << 4)), hi.eq(base[20:]), hi1.eq(base[20:] + 1),
                     self.phase.eq(~(self.next >> log2)[0])]
        m.d.comb += self.addr.eq(Cat(lo[:20], Mux(lo[20], hi1, hi)))
        self.used = Signal(17, name=f"{name}_used")          # entries the host has not consumed
        m.d.sync += self.used.eq((self.next - cons)[:16])
        self.size = Signal(17, name=f"{name}_size")
        m.d.sync += self.size.eq(Const(1, 17) << log2)
        size_m1 = Signal(17, name=f"{name}_size_m1")
        m.d.sync += size_m1.eq((Const(1, 17) << log2) - 1)
        # room for one / two more entries, registered from `used` and `size` (two: used + 2
        # <= size, i.e. used < size - 1: one compare, no add in front of it)
        self.room1, self.room2 = Signal(name=f"{name}_room1"), Signal(name=f"{name}_room2")
        m.d.sync += [self.room1.eq(self.used < self.size), self.room2.eq(self.used < size_m1)]
        # addr/phase lag `next` by one register, the room flags by two: not usable right
        # after a move
        self.moved = Signal(name=f"{name}_moved")
        moved_last, moved_last2 = Signal(name=f"{name}_moved_last"), Signal(name=f"{name}_moved_last2")
        m.d.sync += [moved_last.eq(self.moved), moved_last2.eq(moved_last)]
        self.fresh = Signal(name=f"{name}_fresh")            # addr and phase are current
        self.room_fresh = Signal(name=f"{name}_room_fresh")  # ... and so are the room flags
        m.d.comb += [self.fresh.eq(~moved_last), self.room_fresh.eq(~moved_last & ~moved_last2)]

    def advance(self, m):
        m.d.sync += self.next.eq(self.next + 1)
        m.d.comb += self.moved.eq(1)


class RingWriter(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "req": In(stream.Signature(ring_job_layout())),
            "emit": Out(stream.Signature(emit_layout(params.addr_width))),
            "fence_done": In(1), "halted": In(1),
            "cplq_base": In(64), "cplq_log2": In(4), "cplq_cons": In(16),
            "evtq_base": In(64), "evtq_log2": In(4), "evtq_cons": In(16),
            "seq_take": In(1),
            "seq": Out(16), "cmd_count": Out(32), "cplq_prod": Out(16), "evtq_prod": Out(16),
            # entries written or being written: the furthest a host may consume (it may
            # see an entry by its phase bit before the producer index is published)
            "cplq_next": Out(16), "evtq_next": Out(16),
            "irq_cpl": Out(1), "irq_evt": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cpl = _Ring(m, "cplq", self.cplq_base, self.cplq_log2, self.cplq_cons)
        evt = _Ring(m, "evtq", self.evtq_base, self.evtq_log2, self.evtq_cons)
        m.d.comb += [self.cplq_next.eq(cpl.next), self.evtq_next.eq(evt.next)]
        ev_pending = Signal()           # events written since the last publish
        # the job, registered as it is taken: the entries are built from flops, not from
        # the sequencer's state (it holds the request until `ready` anyway)
        job = Signal(ring_job_layout())
        # kind, address and entry, the rest of the emit command zero: one expression (a
        # field only ever assigned constants would become an `always @*` nothing triggers)
        e_kind, e_addr, e_data = Signal(EmitKind), Signal(self.params.addr_width), Signal(128)
        lay = emit_layout(self.params.addr_width)
        assert [lay["kind"].offset, lay["addr"].offset, lay["data"].offset] == [0, 3, 3 + len(e_addr)]
        tail = lay.size - lay["data"].offset - 128
        m.d.comb += self.emit.payload.eq(Cat(e_kind, e_addr, e_data, Const(0, tail)))
        emit = {"kind": e_kind, "addr": e_addr, "data": e_data}
        with m.If(self.seq_take):
            m.d.sync += self.seq.eq(self.seq + 1)

        def push(kind, **fields):
            m.d.comb += [self.emit.valid.eq(1), emit["kind"].eq(kind)]
            for name, value in fields.items():
                m.d.comb += emit[name].eq(value)
            return self.emit.ready

        def finish():
            m.d.comb += self.req.ready.eq(1)
            m.next = "IDLE"

        with m.FSM(name="ring_writer"):
            with m.State("IDLE"):
                m.d.sync += job.eq(self.req.payload)
                with m.If(self.req.valid):
                    with m.Switch(self.req.payload.job):
                        with m.Case(RingJob.COMPLETE):
                            m.next = "CPL_FENCE"
                        with m.Case(RingJob.EVENTS):
                            m.next = "EV_RETRIEVE"
                        with m.Default():
                            m.next = "PUBLISH"

            # ---- COMPLETE: fence, entry, fence, publish ----
            with m.State("CPL_FENCE"):
                with m.If(push(EmitKind.FENCE)):
                    m.next = "CPL_FENCE_WAIT"
            with m.State("CPL_FENCE_WAIT"):
                with m.If(self.fence_done):
                    m.next = "CPL_ENTRY"
            with m.State("CPL_ENTRY"):
                entry = pack(COMPLETION, status=job.status, result=job.result, tag=job.tag,
                              err_index=job.err_index, seq=job.seq, detail=job.detail, phase=cpl.phase,
                              opcode=job.opcode)
                with m.If(self.halted):
                    finish()                    # no completion: host memory is undefined
                with m.Elif(cpl.room_fresh & cpl.room1):
                    with m.If(push(EmitKind.RING, addr=cpl.addr, data=entry)):
                        cpl.advance(m)
                        m.next = "CPL_PUBLISH"
            with m.State("CPL_PUBLISH"):
                with m.If(push(EmitKind.FENCE)):
                    m.next = "CPL_PUBLISH_WAIT"
            with m.State("CPL_PUBLISH_WAIT"):
                with m.If(self.fence_done | self.halted):
                    m.d.sync += [self.cplq_prod.eq(cpl.next), self.evtq_prod.eq(evt.next),
                                 self.cmd_count.eq(self.cmd_count + 1), ev_pending.eq(0)]
                    m.d.comb += [self.irq_cpl.eq(~self.halted), self.irq_evt.eq(ev_pending & ~self.halted)]
                    finish()

            # ---- EVENTS: Retrieve(HardwareFailure), then Abort, with room for both ----
            with m.State("EV_RETRIEVE"):
                v = pack(EVENT, handle=job.handle, host_handle=job.host_handle,
                          info=int(TcpUploadReason.HARDWARE_FAILURE), seq=self.seq,
                          type=int(TcpEventType.RETRIEVE), phase=evt.phase)
                with m.If(self.halted):
                    finish()
                with m.Elif(evt.room_fresh & evt.room2):
                    with m.If(push(EmitKind.RING, addr=evt.addr, data=v)):
                        evt.advance(m)
                        m.d.sync += [self.seq.eq(self.seq + 1), ev_pending.eq(1)]
                        m.next = "EV_ABORT"
            with m.State("EV_ABORT"):
                v = pack(EVENT, handle=job.handle, host_handle=job.host_handle, seq=self.seq,
                          type=int(TcpEventType.ABORT), phase=evt.phase)
                with m.If(evt.fresh):
                    with m.If(push(EmitKind.RING, addr=evt.addr, data=v)):
                        evt.advance(m)
                        m.d.sync += self.seq.eq(self.seq + 1)
                        finish()

            # ---- PUBLISH: scrubber findings outside a command ----
            with m.State("PUBLISH"):
                with m.If(~ev_pending):
                    finish()
                with m.Else():
                    with m.If(push(EmitKind.FENCE)):
                        m.next = "PUBLISH_WAIT"
            with m.State("PUBLISH_WAIT"):
                with m.If(self.fence_done | self.halted):
                    m.d.sync += [self.evtq_prod.eq(evt.next), ev_pending.eq(0)]
                    m.d.comb += self.irq_evt.eq(~self.halted)
                    finish()
        return m
