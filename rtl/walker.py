"""The request walker: one connection's request list, out of the request pool.

    req     In(stream WALK_REQ)   what to do (`release` 0: walk, 1: release), the list's
                                  head entry, how many entries to visit (`count`, never
                                  0), the entry the list should end at (`tail`, walk) and
                                  whether the records say "aborted" (`abort`, walk)
    resp    Out(stream WALK_RESP) how many entries were good (`good`) and whether the list
                                  was whole (`ok`: every entry used and the last one the
                                  tail); held until taken
    rec     Out(stream 64)        walk: one REQ_RECORD per entry, then zero records for
                                  the entries a broken list could not give (the emitter
                                  was promised `count` of them)
    tables  Out                   the pool's read and write requests
    lost    Out                   one-cycle pulse: an entry was unreadable (SECDED) and
                                  was quarantined; the engine counts it and raises
                                  ERR_STATUS.ECC_UNCORRECTABLE

Walk: each entry is read in list order; an unreadable one is written back as
`used, poisoned` (quarantined) and ends the list, so does one that is not in use or is
poisoned. Release (after the host has its records): each of the first `good` entries is
read again for its `next` link and cleared; an unreadable entry ends the release (it is
quarantined already or will be found by the scrubber).

It decides nothing about the connection: the sequencer tells it where the list starts,
how long it is and which disposition applies (chimney.contract.checks.DISPOSITIONS).
Reads go out one at a time (the next entry's address is the previous entry's `next`),
so the pool sees the same reads in the same order as the reference model's walk.
"""

from amaranth.hdl import Module, Signal, Cat
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, pool_layout, REQ_RECORD
from chimney.contract.checks import DISPOSITIONS

from .pack import pack
from .tables import tables_signature

__all__ = ["WALK_REQ", "WALK_RESP", "RequestWalker"]

WALK_REQ = data.StructLayout({"release": 1, "head": 16, "count": 16, "tail": 16, "abort": 1})
WALK_RESP = data.StructLayout({"good": 16, "ok": 1})


class RequestWalker(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        self.pool_lay = pool_layout(params)
        super().__init__({
            "req": In(stream.Signature(WALK_REQ)),
            "resp": Out(stream.Signature(WALK_RESP)),
            "rec": Out(stream.Signature(64)),
            "tables": Out(tables_signature(params)),
            "lost": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pool = self.tables.req_pool
        q = self.req.payload
        release, abort = Signal(), Signal()
        wp, tail = Signal(16), Signal(16)          # entry being visited, the list's tail
        total, wn = Signal(16), Signal(16)         # entries to visit, visited so far
        good, ok = Signal(16), Signal()
        entry = Signal(64)
        pe = data.View(self.pool_lay.amaranth(), entry)
        rd = data.View(self.pool_lay.amaranth(), pool.rd_data)

        disp = Signal(8)
        with m.Switch(Cat(pe.kind, abort)):
            for (kind, aborted), value in DISPOSITIONS.items():
                with m.Case(int(kind) | aborted << 1):
                    m.d.comb += disp.eq(int(value))
        record = Signal(64)
        m.d.comb += record.eq(pack(REQ_RECORD, cookie=pe.cookie, length=pe.length, kind=pe.kind,
                                   disposition=disp))
        m.d.comb += [self.resp.payload.good.eq(good), self.resp.payload.ok.eq(ok)]

        with m.FSM(name="walker"):
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [release.eq(q.release), abort.eq(q.abort), wp.eq(q.head), tail.eq(q.tail),
                                 total.eq(q.count), wn.eq(0), good.eq(0), ok.eq(1)]
                    m.next = "READ"

            with m.State("READ"):
                m.d.comb += [pool.rd_en.eq(1), pool.rd_addr.eq(wp)]
                m.next = "WAIT"

            with m.State("WAIT"):
                with m.If(pool.rd_valid):
                    m.d.sync += entry.eq(pool.rd_data)
                    with m.If(release):
                        with m.If(pool.rd_ue):
                            m.next = "DONE"
                        with m.Else():
                            m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(wp), pool.wr_data.eq(0)]
                            m.d.sync += [wp.eq(rd.next), wn.eq(wn + 1)]
                            with m.If(wn + 1 == total):
                                m.next = "DONE"
                            with m.Else():
                                m.next = "READ"
                    with m.Elif(pool.rd_ue):
                        m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(wp), self.lost.eq(1),
                                     pool.wr_data.eq(pack(self.pool_lay, used=1, poisoned=1))]
                        m.d.sync += [ok.eq(0), good.eq(wn)]
                        m.next = "PAD"
                    with m.Elif(~rd.used | rd.poisoned):
                        m.d.sync += [ok.eq(0), good.eq(wn)]
                        m.next = "PAD"
                    with m.Else():
                        m.next = "RECORD"

            with m.State("RECORD"):
                m.d.comb += [self.rec.valid.eq(1), self.rec.payload.eq(record)]
                with m.If(self.rec.ready):
                    m.d.sync += [wn.eq(wn + 1), wp.eq(pe.next)]
                    with m.If(wn + 1 == total):
                        m.d.sync += [good.eq(total), ok.eq(wp == tail)]
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ"

            # a broken list still owes the emitter its announced number of records
            with m.State("PAD"):
                m.d.comb += [self.rec.valid.eq(wn != total), self.rec.payload.eq(0)]
                with m.If(wn == total):
                    m.next = "DONE"
                with m.Elif(self.rec.ready):
                    m.d.sync += wn.eq(wn + 1)

            with m.State("DONE"):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.next = "IDLE"
        return m
