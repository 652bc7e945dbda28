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

from .crc import crc32c_state_term, crc32c_word_term
from .scrubfind import SCRUB_REPORT, SCRUB_META_LOST, SCRUB_ROW_BAD, SCRUB_POOL_LOST
from .pack import u64 as _u64, TYPE_NAME
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
        timer_done = Signal(init=1)             # timer == 0, kept as a register (timing)
        with m.If(~timer_done):
            m.d.sync += [timer.eq(timer - 1), timer_done.eq(timer == 1)]

        def port(t, kind):
            return getattr(self.tables, f"{TYPE_NAME[t]}_{kind}")

        pool = self.tables.req_pool
        last_row = Signal(16)
        for i, t in enumerate(ORDER):
            with m.If(tbl == i):
                m.d.comb += last_row.eq(p.depth(t) - 1)
        with m.If(tbl == 3):
            m.d.comb += last_row.eq(p.n_req - 1)

        # the row's first data word (row * data words of the table), kept beside `row`
        # (timing: no multiply on the way to rd_addr); data_addr counts the words issued
        data_base = Signal(range(max(p.depth(t) * data_words(t) for t in ORDER) + 1))
        data_addr = Signal.like(data_base)
        row_words = Signal(range(max(data_words(t) for t in ORDER) + 1))
        for i, t in enumerate(ORDER):
            with m.If(tbl == i):
                m.d.comb += row_words.eq(data_words(t))

        def advance():
            m.d.sync += data_base.eq(data_base + row_words)
            with m.If(row == last_row):
                m.d.sync += [row.eq(0), data_base.eq(0)]
                with m.If(tbl == 3):
                    m.d.sync += [tbl.eq(0), self.passes.eq(self.passes + 1), fast.eq(0)]
                with m.Else():
                    m.d.sync += tbl.eq(tbl + 1)
            with m.Else():
                m.d.sync += row.eq(row + 1)
            m.d.sync += [timer.eq(self.interval), timer_done.eq(self.interval == 0)]
            m.next = "IDLE"

        def raise_report(kind, mem):
            m.d.sync += [report_valid.eq(1), report.kind.eq(kind), report.mem.eq(mem), report.addr.eq(row)]

        # The row CRC, a word a cycle, pipelined: the arriving word is registered, its term
        # computed from that register, then folded into the state (crc32c_step split in its
        # linear parts: the table select, the word's XOR trees and the state's XOR trees are
        # in separate cycles)
        word_in = Signal(64)                    # the word that arrived (the table's rd_data), registered
        word_in_valid = Signal()
        word_term = Signal(32)
        term_valid = Signal()
        handle_term = Signal(32)                # the host handle's term, from the ident word
        m.d.sync += [word_in_valid.eq(0), term_valid.eq(word_in_valid),
                     word_term.eq(crc32c_word_term(word_in))]
        with m.If(term_valid):
            m.d.sync += crc.eq(crc32c_state_term(crc) ^ word_term)

        seen_ue = Signal()
        seen_live = Signal()
        # crc_fail/crc_mem/crc_addr: a registered one-cycle pulse (the cycle after VERIFY), zero otherwise
        m.d.sync += [self.crc_fail.eq(0), self.crc_mem.eq(0), self.crc_addr.eq(0)]

        with m.FSM(name="scrub"):
            with m.State("IDLE"):
                go = Signal()
                m.d.comb += go.eq(self.grant & ~report_valid & (fast | (self.enable & timer_done)))
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

            # The read's outcome is registered (`seen_*`) and acted on in the next cycle
            # (timing: rd_ue and the meta flags come straight from the memory's decision).
            with m.State("POOL_WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(pool.rd_valid):
                    m.d.sync += seen_ue.eq(pool.rd_ue)
                    m.next = "POOL_SEEN"

            with m.State("POOL_SEEN"):
                m.d.comb += self.busy.eq(1)
                with m.If(seen_ue):
                    raise_report(SCRUB_POOL_LOST, memory_id(None, "pool"))
                advance()

            with m.State("META_WAIT"):
                m.d.comb += self.busy.eq(1)
                for i, t in enumerate(ORDER):
                    mp = port(t, "meta")
                    with m.If((tbl == i) & mp.rd_valid):
                        mv = data.View(meta_layout(p, t).amaranth(), mp.rd_data)
                        m.d.sync += [bad.eq(0), crc.eq(CRC_INIT), word.eq(0),
                                     seen_ue.eq(mp.rd_ue), seen_live.eq(mv.valid & ~mv.failed & ~mv.poisoned)]
                        m.next = "META_SEEN"

            with m.State("META_SEEN"):
                m.d.comb += self.busy.eq(1)
                with m.If(seen_ue):
                    for i, t in enumerate(ORDER):
                        with m.If(tbl == i):
                            raise_report(SCRUB_META_LOST, memory_id(t, "meta"))
                    advance()
                with m.Elif(seen_live):
                    m.next = "DATA"
                with m.Else():
                    advance()

            # an offloaded, healthy row: its ident word now (one cycle ahead of the data
            # words, so the step is no longer than when both were read with the meta word)
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                issued = Signal(8)
                m.d.sync += [issued.eq(0), data_addr.eq(data_base)]
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
                            m.d.comb += [dp.rd_en.eq(1), dp.rd_addr.eq(data_addr)]
                            m.d.sync += [issued.eq(issued + 1), data_addr.eq(data_addr + 1)]
                        with m.If(ip.rd_valid):
                            m.d.sync += [ident_word.eq(ip.rd_data),
                                         handle_term.eq(crc32c_word_term(
                                             _u64(data.View(IDENT.amaranth(), ip.rd_data).host_handle)))]
                        # one expression: an ident and a data outcome in the same cycle both count
                        m.d.sync += bad.eq(bad | (ip.rd_valid & ip.rd_ue) | (dp.rd_valid & dp.rd_ue))
                        with m.If(dp.rd_valid):
                            m.d.sync += [word_in.eq(dp.rd_data), word_in_valid.eq(1), word.eq(word + 1)]
                            with m.If(word == n - 1):
                                m.next = "FOLD"

            # the last word: its term is computed (FOLD), then joins the CRC (FOLD2), above
            with m.State("FOLD"):
                m.d.comb += self.busy.eq(1)
                m.next = "FOLD2"

            with m.State("FOLD2"):
                m.d.comb += self.busy.eq(1)
                m.next = "CHECK"

            # the row CRC's last step (the host handle) in one cycle, its compare in the next
            ident = data.View(IDENT.amaranth(), ident_word)
            final = Signal(32)
            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += final.eq(crc32c_state_term(crc) ^ handle_term ^ CRC_XOROUT)
                m.next = "VERIFY"

            with m.State("VERIFY"):
                m.d.comb += self.busy.eq(1)
                mismatch = Signal()
                m.d.comb += mismatch.eq((final != ident.crc) & Const(int(p.ecc), 1))
                # no report is pending during a step (IDLE starts one only without), so the
                # payload is loaded whatever the outcome and only report_valid waits for it
                m.d.sync += [report_valid.eq(bad | mismatch), report.kind.eq(SCRUB_ROW_BAD), report.addr.eq(row)]
                for i, t in enumerate(ORDER):
                    with m.If(tbl == i):
                        m.d.sync += report.mem.eq(memory_id(t, "data"))
                        with m.If(~bad & mismatch):
                            m.d.sync += [self.crc_fail.eq(1), self.crc_mem.eq(memory_id(t, "data")),
                                         self.crc_addr.eq(row)]
                advance()
        return m
