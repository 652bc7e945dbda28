"""The patrol scrubber: reads every stored word in the background so errors are found
(and single-bit ones corrected by `EccMemory`'s write-back) before a command needs them.

A step checks one whole row (meta word; only for an offloaded, healthy row also its
ident and data words and the row CRC, so nothing is read or reported for a free or
failed row's state) or one request-pool entry, while the engine has granted it the
tables; a row is never checked half before and half after a command.
Steps come every SCRUB_INTERVAL cycles with CTRL.SCRUB_EN, or back to back for one
pass after SCRUB_CTRL.PASS. What it cannot correct it hands to the engine as a
report; the engine marks the row failed, poisons it or quarantines the entry, and
posts the events, as for a command that finds the same thing.
"""

from amaranth.hdl import Module, Signal, Mux, Const
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, data_words, meta_layout, pool_layout, memory_id
from chimney.contract.ecc import CRC_INIT, CRC_XOROUT
from chimney.contract.rows import IDENT

from .crc import crc32c_step
from .engine import _u64, SCRUB_REPORT, SCRUB_META_LOST, SCRUB_ROW_BAD, SCRUB_POOL_LOST, TYPE_NAME
from .tables import tables_signature

ORDER = (ObjType.NEIGHBOR, ObjType.PATH, ObjType.TCP)     # then the request pool


class Scrubber(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "tables": Out(tables_signature(params)),
            "grant": In(1), "busy": Out(1),
            "enable": In(1), "interval": In(32), "pass_req": In(1),
            "report": Out(stream.Signature(SCRUB_REPORT)),
            "passes": Out(32),
            "crc_fail": Out(1), "crc_mem": Out(5), "crc_addr": Out(24),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        tbl = Signal(2)                   # index into ORDER; 3 = request pool
        row = Signal(16)
        word = Signal(8)
        crc = Signal(32)
        meta_word = Signal(64)
        ident_word = Signal(64)
        bad = Signal()
        timer = Signal(32)
        fast = Signal()                   # a requested pass is running
        report = Signal(SCRUB_REPORT)
        report_valid = Signal()
        m.d.comb += [self.report.payload.eq(report), self.report.valid.eq(report_valid)]
        with m.If(self.report.ready):
            m.d.sync += report_valid.eq(0)

        with m.If(self.pass_req):
            m.d.sync += fast.eq(1)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        def port(t, kind):
            return getattr(self.tables, f"{TYPE_NAME[t]}_{kind}")

        pool = self.tables.req_pool
        last_row = Signal(16)
        for i, t in enumerate(ORDER):
            with m.If(tbl == i):
                m.d.comb += last_row.eq(p.depth(t) - 1)
        with m.If(tbl == 3):
            m.d.comb += last_row.eq(p.n_req - 1)

        def advance():
            with m.If(row == last_row):
                m.d.sync += row.eq(0)
                with m.If(tbl == 3):
                    m.d.sync += [tbl.eq(0), self.passes.eq(self.passes + 1), fast.eq(0)]
                with m.Else():
                    m.d.sync += tbl.eq(tbl + 1)
            with m.Else():
                m.d.sync += row.eq(row + 1)
            m.d.sync += timer.eq(self.interval)
            m.next = "IDLE"

        def raise_report(kind, mem):
            m.d.sync += [report_valid.eq(1), report.kind.eq(kind), report.mem.eq(mem), report.addr.eq(row)]

        with m.FSM(name="scrub"):
            with m.State("IDLE"):
                go = Signal()
                m.d.comb += go.eq(self.grant & ~report_valid & (fast | (self.enable & (timer == 0))))
                with m.If(go):
                    # `busy` stays a registered fact (later states), so the engine's grant
                    # never depends on it combinationally; a grant withdrawn this cycle stops `go`
                    with m.If(tbl == 3):
                        m.d.comb += [pool.rd_en.eq(1), pool.rd_addr.eq(row)]
                        m.next = "POOL_WAIT"
                    with m.Else():
                        # the meta word alone: a free or failed row's ident word is not read
                        # (its ECC outcome would be reported for a row nothing uses)
                        for i, t in enumerate(ORDER):
                            with m.If(tbl == i):
                                m.d.comb += [port(t, "meta").rd_en.eq(1), port(t, "meta").rd_addr.eq(row)]
                        m.next = "META_WAIT"

            with m.State("POOL_WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(pool.rd_valid):
                    pe = data.View(pool_layout(p).amaranth(), pool.rd_data)
                    with m.If(pool.rd_ue):
                        raise_report(SCRUB_POOL_LOST, memory_id(None, "pool"))
                    advance()

            with m.State("META_WAIT"):
                m.d.comb += self.busy.eq(1)
                for i, t in enumerate(ORDER):
                    mp = port(t, "meta")
                    with m.If((tbl == i) & mp.rd_valid):
                        mv = data.View(meta_layout(p, t).amaranth(), mp.rd_data)
                        m.d.sync += [bad.eq(0), crc.eq(CRC_INIT), word.eq(0)]
                        with m.If(mp.rd_ue):
                            raise_report(SCRUB_META_LOST, memory_id(t, "meta"))
                            advance()
                        with m.Elif(mv.valid & ~mv.failed & ~mv.poisoned):
                            m.next = "DATA"
                        with m.Else():
                            advance()

            # an offloaded, healthy row: its ident word now (one cycle ahead of the data
            # words, so the step is no longer than when both were read with the meta word)
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                issued = Signal(8)
                m.d.sync += issued.eq(0)
                for i, t in enumerate(ORDER):
                    with m.If(tbl == i):
                        m.d.comb += [port(t, "ident").rd_en.eq(1), port(t, "ident").rd_addr.eq(row)]
                m.next = "DATA_RUN"

            with m.State("DATA_RUN"):
                m.d.comb += self.busy.eq(1)
                for i, t in enumerate(ORDER):
                    with m.If(tbl == i):
                        ip, dp = port(t, "ident"), port(t, "data")
                        n = data_words(t)
                        with m.If(issued < n):
                            m.d.comb += [dp.rd_en.eq(1), dp.rd_addr.eq(row * n + issued)]
                            m.d.sync += issued.eq(issued + 1)
                        with m.If(ip.rd_valid):
                            m.d.sync += ident_word.eq(ip.rd_data)
                        # one expression: an ident and a data outcome in the same cycle both count
                        m.d.sync += bad.eq(bad | (ip.rd_valid & ip.rd_ue) | (dp.rd_valid & dp.rd_ue))
                        with m.If(dp.rd_valid):
                            m.d.sync += [crc.eq(crc32c_step(crc, dp.rd_data)), word.eq(word + 1)]
                            with m.If(word == n - 1):
                                m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                ident = data.View(IDENT.amaranth(), ident_word)
                final = Signal(32)
                m.d.comb += final.eq(crc32c_step(crc, _u64(ident.host_handle)) ^ CRC_XOROUT)
                mismatch = Signal()
                m.d.comb += mismatch.eq((final != ident.crc) & Const(int(p.ecc), 1))
                for i, t in enumerate(ORDER):
                    with m.If(tbl == i):
                        with m.If(bad | mismatch):
                            raise_report(SCRUB_ROW_BAD, memory_id(t, "data"))
                        with m.If(~bad & mismatch):
                            m.d.comb += [self.crc_fail.eq(1), self.crc_mem.eq(memory_id(t, "data")),
                                         self.crc_addr.eq(row)]
                advance()
        return m
