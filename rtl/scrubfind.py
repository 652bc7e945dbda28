"""What the patrol scrubber found outside any command: act on one finding.

    (CommandFlow ports: start, done, tables, ecc_err, quarantine, upset; `desc` unused)
    report   In(stream SCRUB_REPORT)   the finding: memory id, word address (row or
                                       pool entry), what was lost

A lost pool entry is quarantined (`used, poisoned`). A row whose meta word was lost is
poisoned (generation 0) unless it is poisoned already; a live row whose other state was
lost is marked failed. For a connection the router then indicates Retrieve(HardwareFailure)
and Abort (`done.events`); a free or already failed row needs nothing. The router
publishes the rings afterwards either way.
"""

from amaranth.hdl import Const, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In

from chimney.contract import EngineParams, ObjType, IDENT, MEMORIES
from chimney.contract.rows import GEN_BITS

from .flow import CommandFlow, META_FAILED
from .pack import pack

__all__ = ["SCRUB_REPORT", "SCRUB_META_LOST", "SCRUB_ROW_BAD", "SCRUB_POOL_LOST", "ScrubFindings"]

#: What the scrubber hands the engine: memory id, word address / row, and what was lost.
SCRUB_REPORT = data.StructLayout({"mem": 5, "addr": 24, "kind": 2})
SCRUB_META_LOST, SCRUB_ROW_BAD, SCRUB_POOL_LOST = 0, 1, 2


class ScrubFindings(CommandFlow):
    NAME = "scrubfind"
    FIRST = "SF_TAKE"

    def __init__(self, params: EngineParams = EngineParams()):
        super().__init__(params, {"report": In(stream.Signature(SCRUB_REPORT))})

    def setup(self, m):
        self.htype, self.hindex, self.kind = Signal(2, name="htype"), Signal(16, name="hindex"), Signal(2, name="kind")

    def states(self, m):
        io = self.io
        rep = self.report.payload

        with m.State("SF_TAKE"):
            m.d.comb += self.report.ready.eq(1)
            with m.If(self.report.valid):
                for mem_id, (name, t, kind) in enumerate(MEMORIES):       # memory id -> table
                    if t is not None:
                        with m.If(rep.mem == mem_id):
                            m.d.sync += self.htype.eq(t)
                m.d.sync += [self.hindex.eq(rep.addr), self.kind.eq(rep.kind)]
                m.next = "SF_DISPATCH"

        with m.State("SF_DISPATCH"):
            with m.If(self.kind == SCRUB_POOL_LOST):
                m.d.comb += [io.pool.wr_en.eq(1), io.pool.wr_addr.eq(self.hindex),
                             io.pool.wr_data.eq(pack(io.pool_lay, used=1, poisoned=1)), self.quarantine.eq(1)]
                self.succeed(m)
            with m.Else():
                io.read(self.htype, "meta", self.hindex)
                io.read(self.htype, "ident", self.hindex)
                m.next = "SF_META_WAIT"

        with m.State("SF_META_WAIT"):
            mv, mw, mue = io.rv["meta"]
            iv, iw, iue = io.rv["ident"]
            with m.If(mv):
                valid, failed, poisoned, gen = (io.mfield(mw, self.htype, n) for n in ("valid", "failed", "poisoned", "gen"))
                host = Mux(iue, 0, data.View(IDENT.amaranth(), iw).host_handle)
                is_tcp = self.htype == ObjType.TCP
                with m.If(mue | (self.kind == SCRUB_META_LOST)):
                    with m.If(~mue & poisoned):
                        self.succeed(m)                        # already handled
                    with m.Else():
                        io.write(self.htype, "meta", self.hindex,
                                 io.meta_value(self.htype, valid=1, failed=1, poisoned=1, gen=0))
                        m.d.comb += self.quarantine.eq(1)
                        with m.If(is_tcp):
                            self.finish_events(m, io.handle(self.htype, self.hindex, Const(0, GEN_BITS)), host)
                        with m.Else():
                            self.succeed(m)
                with m.Elif(valid & ~failed & ~poisoned):
                    io.write(self.htype, "meta", self.hindex, mw | META_FAILED)
                    with m.If(is_tcp):
                        self.finish_events(m, io.handle(self.htype, self.hindex, gen), host)
                    with m.Else():
                        self.succeed(m)
                with m.Else():
                    self.succeed(m)
