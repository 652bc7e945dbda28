"""The row reader: one object's row out of the state tables, checked, into an emitter slot.

    req     In(stream ROW_REQ)   type, index, its first data word's address (`base`), the
                                 emitter slot to fill, and whether to read the meta and
                                 ident words too (`with_meta`; otherwise `ident` is given)
    resp    Out(stream ROW_RESP: row_resp_layout) meta and ident words with their SECDED verdicts, whether
                                 a data word was uncorrectable (`data_ue`), whether the row
                                 CRC failed on an otherwise readable row (`crc_bad`), `lost`
                                 (any of those), and the first two data words (UPDATE
                                 merges them); held until taken
    tables  Out                  read requests (meta, ident, data of the three tables)
    slot_*  Out                  each data word as it arrives, to the emitter's row slot

It decides nothing about the object; it reads. Addresses come from a register that
starts at `base` and counts up, one data word per cycle, so no multiply or add of a
row index sits in the issue path. The row CRC folds each word from a register the
cycle after it arrives; the host handle's step and the compare take one registered
cycle each after that.
"""

from amaranth.hdl import Module, Signal, Const, Cat, Mux
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, data_words, IDENT
from chimney.contract.ecc import CRC_INIT, CRC_XOROUT

from .crc import crc32c_step
from .emitter import SLOT_SEL_BITS
from .tables import tables_signature
from .pack import TYPE_NAME, or_all
from .skid import SkidBuffer
from .tableio import meta_field, meta_field_width

__all__ = ["ROW_REQ", "META_FACTS", "row_resp_layout", "RowReader", "TYPE_NAME"]


ROW_REQ = data.StructLayout({
    "type": 2, "index": 16, "base": 24, "slot": SLOT_SEL_BITS, "with_meta": 1,
    "ident": 64, "ident_ue": 1,                 # with_meta = 0: the ident word already read
})
#: the meta fields the list flow's row checks read, picked for the row's type here (a
#: cycle ahead, between registers) so the checks start at flops: {name: dotted path}
META_FACTS = {"valid": "valid", "failed": "failed", "poisoned": "poisoned", "detached": "detached",
              "gen": "gen", "parent": "u.live.parent", "refcount": "u.live.refcount",
              "req_count": "u.live.req_count", "freed_tag": "u.free.freed_tag"}


def row_resp_layout(params):
    """ROW_RESP: the row's answer (see the module docstring); `facts` are META_FACTS of
    the meta word for the row's type (as wide as the widest table's field)."""
    facts = data.StructLayout({name: meta_field_width(params, path) for name, path in META_FACTS.items()})
    return data.StructLayout({
        "meta": 64, "meta_ue": 1, "ident": 64, "ident_ue": 1,
        "data_ue": 1, "crc_bad": 1, "lost": 1,
        "word0": 64, "word1": 64, "facts": facts,
    })


class RowReader(wiring.Component):
    """Two halves joined by a small FIFO of row descriptors: the issue half sends one
    read per cycle (meta and ident with the first data word); the receive half takes the
    words as they come back, in issue order, so the next row's reads go out while the
    previous row's last words and CRC are still on their way. At most two rows are
    between request and response (the response FIFO's depth): the RAM cannot be told
    to wait, so the issue half only starts a row that has a place to land.

    peek    Out: pulses with a row's meta word (and its SECDED verdict) as soon as it
            arrives, before the data words: the admission stage decides from it whether
            the next entry may start its read early.
    """

    DEPTH = 2

    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "req": In(stream.Signature(ROW_REQ)),
            "resp": Out(stream.Signature(row_resp_layout(params))),
            "peek_valid": Out(1), "peek_meta": Out(64), "peek_ue": Out(1),
            "tables": Out(tables_signature(params)),
            "slot_we": Out(1), "slot_sel": Out(SLOT_SEL_BITS), "slot_word": Out(4), "slot_data": Out(64),
            "idle": Out(1),
        })

    def _port(self, t, kind):
        return getattr(self.tables, f"{TYPE_NAME[t]}_{kind}")

    def elaborate(self, platform):
        m = Module()
        # ---- issue half ---------------------------------------------------------------
        cur = Signal(ROW_REQ)
        nwords = Signal(4)
        issue_i = Signal(4)
        addr = Signal(24)
        issuing = Signal()
        outstanding = Signal(range(self.DEPTH + 1))       # rows requested, response not taken
        m.submodules.rows = rows = SyncFIFOBuffered(width=ROW_REQ.size + 4, depth=self.DEPTH + 2)
        took_req, took_resp = Signal(), Signal()
        m.d.comb += [
            self.req.ready.eq(~issuing & (outstanding < self.DEPTH) & rows.w_rdy),
            took_req.eq(self.req.valid & self.req.ready),
            took_resp.eq(self.resp.valid & self.resp.ready),
        ]
        m.d.sync += outstanding.eq(outstanding + took_req - took_resp)
        req_words = Signal(4)
        for t in ObjType:
            with m.If(self.req.payload.type == t):
                m.d.comb += req_words.eq(data_words(t))
        m.d.comb += [rows.w_en.eq(took_req), rows.w_data.eq(Cat(self.req.payload.as_value(), req_words))]
        with m.If(took_req):
            m.d.sync += [cur.eq(self.req.payload), addr.eq(self.req.payload.base), issue_i.eq(0),
                         nwords.eq(req_words), issuing.eq(1)]

        def read(type_sig, kind, address):
            for t in ObjType:
                with m.If(type_sig == t):
                    pt = self._port(t, kind)
                    m.d.comb += [pt.rd_en.eq(1), pt.rd_addr.eq(address)]

        with m.If(issuing):
            read(cur.type, "data", addr)
            with m.If((issue_i == 0) & cur.with_meta):
                read(cur.type, "meta", cur.index)
                read(cur.type, "ident", cur.index)
            m.d.sync += [addr.eq(addr + 1), issue_i.eq(issue_i + 1)]
            with m.If(issue_i == nwords - 1):
                m.d.sync += issuing.eq(0)

        # ---- receive half: the FIFO head is the row whose words arrive now -------------
        head = data.View(ROW_REQ, rows.r_data[:ROW_REQ.size])
        head_words = rows.r_data[ROW_REQ.size:]
        rv = {}
        for kind in ("meta", "ident"):
            valid, word, ue = Signal(name=f"rr_{kind}_valid"), Signal(64, name=f"rr_{kind}_data"), \
                Signal(name=f"rr_{kind}_ue")
            for t in ObjType:
                pt = self._port(t, kind)
                with m.If(head.type == t):
                    m.d.comb += [valid.eq(pt.rd_valid & rows.r_rdy), word.eq(pt.rd_data), ue.eq(pt.rd_ue)]
            rv[kind] = (valid, word, ue)
        # data words: only this reader reads the data memories, and its rows come back in
        # order, so whichever data port answers is the head row's (an AND-OR, no decode of
        # the head's type in the path that pops the row FIFO)
        dv, dw, due = Signal(name="rr_data_valid"), Signal(64, name="rr_data_data"), Signal(name="rr_data_ue")
        ports = [self._port(t, "data") for t in ObjType]
        m.d.comb += [dv.eq(Cat(*(pt.rd_valid for pt in ports)).any() & rows.r_rdy),
                     dw.eq(or_all([pt.rd_data & pt.rd_valid.replicate(64) for pt in ports])),
                     due.eq(Cat(*(pt.rd_valid & pt.rd_ue for pt in ports)).any())]
        rv["data"] = (dv, dw, due)
        recv_i = Signal(4)
        crc = Signal(32)
        meta, meta_ue, ident, ident_ue, data_ue = Signal(64), Signal(), Signal(64), Signal(), Signal()
        w0, w1 = Signal(64), Signal(64)
        mv, mw, mue = rv["meta"]
        iv, iw, iue = rv["ident"]
        got_meta = Signal()
        m.d.comb += got_meta.eq(mv & head.with_meta & (recv_i == 0))
        m.d.comb += [self.peek_valid.eq(got_meta), self.peek_meta.eq(mw), self.peek_ue.eq(mue)]
        # the first word of a row starts its accumulators afresh
        first = recv_i == 0
        with m.If(got_meta):
            m.d.sync += [meta.eq(mw), meta_ue.eq(mue), ident.eq(iw), ident_ue.eq(iue)]
        valid, word, ue = rv["data"]
        last = Signal()
        m.d.comb += last.eq(valid & (recv_i == head_words - 1))
        with m.If(valid):
            m.d.comb += [self.slot_we.eq(1), self.slot_sel.eq(head.slot), self.slot_word.eq(recv_i),
                         self.slot_data.eq(word)]
            m.d.sync += [recv_i.eq(Mux(last, 0, recv_i + 1)),
                         data_ue.eq(Mux(first, 0, data_ue) | ue)]
            with m.If(first):
                m.d.sync += w0.eq(word)
                with m.If(~head.with_meta):
                    m.d.sync += [meta.eq(0), meta_ue.eq(0), ident.eq(head.ident), ident_ue.eq(head.ident_ue)]
            with m.If(recv_i == 1):
                m.d.sync += w1.eq(word)
        m.d.comb += rows.r_en.eq(last)
        # the CRC folds each word a cycle after it arrives, from a register (the port
        # multiplexer and the XOR network are not one path)
        d_valid, d_first, d_word = Signal(), Signal(), Signal(64)
        m.d.sync += d_valid.eq(valid)
        with m.If(valid):
            m.d.sync += [d_word.eq(word), d_first.eq(first)]
        with m.If(d_valid):
            m.d.sync += crc.eq(crc32c_step(Mux(d_first, CRC_INIT, crc), d_word))

        # ---- finish: the row's words are in `crc` two cycles after the last one arrived;
        # then the host handle's CRC step and the compare, one register each ---
        f1_valid, f1b_valid, f2_valid = Signal(), Signal(), Signal()
        ROW_RESP = row_resp_layout(self.params)
        f1, f1b = Signal(ROW_RESP), Signal(ROW_RESP)
        f1_type = Signal(2)
        f1b_ident = data.View(IDENT.amaranth(), f1b.ident)
        m.d.sync += [f1_valid.eq(last), f1b_valid.eq(f1_valid)]
        with m.If(f1_valid):
            m.d.sync += f1b.eq(f1)
            # the meta facts for the row's type, from the registered meta word
            for name, path in META_FACTS.items():
                m.d.sync += getattr(f1b.facts, name).eq(meta_field(m, self.params, f1.meta, f1_type, path))
        with m.If(last):
            m.d.sync += f1_type.eq(head.type)
            # `last` is the cycle the final word arrives: take it from the port directly
            # (a one-word row's meta and ident words arrive in this same cycle)
            m.d.sync += [f1.meta.eq(Mux(head.with_meta, Mux(got_meta, mw, meta), 0)),
                         f1.meta_ue.eq(head.with_meta & Mux(got_meta, mue, meta_ue)),
                         f1.ident.eq(Mux(head.with_meta, Mux(got_meta, iw, ident), head.ident)),
                         f1.ident_ue.eq(Mux(head.with_meta, Mux(got_meta, iue, ident_ue), head.ident_ue)),
                         f1.data_ue.eq(Mux(first, 0, data_ue) | ue),
                         f1.word0.eq(Mux(first, word, w0)), f1.word1.eq(Mux(recv_i == 1, word, w1))]
        final = Signal(32)
        f2 = Signal(ROW_RESP)
        m.d.sync += f2_valid.eq(f1b_valid)
        with m.If(f1b_valid):
            hh = f1b_ident.host_handle
            m.d.sync += [f2.eq(f1b), final.eq(crc32c_step(crc, Cat(hh, Const(0, 64 - len(hh)))) ^ CRC_XOROUT)]
        # two rows at most are between request and response, so a two-entry register slice
        # holds every finished row (its ready never stops the pipeline: see `outstanding`)
        m.submodules.out = out = SkidBuffer(ROW_RESP)
        f2_ident = data.View(IDENT.amaranth(), f2.ident)
        readable = ~f2.data_ue & ~f2.ident_ue
        crc_bad = Signal()
        m.d.comb += crc_bad.eq(Const(int(self.params.ecc), 1) & readable & (final != f2_ident.crc))
        done = Signal(ROW_RESP)
        m.d.comb += [done.eq(f2), done.crc_bad.eq(crc_bad), done.lost.eq(~readable | crc_bad),
                     out.i.valid.eq(f2_valid), out.i.payload.eq(done)]
        wiring.connect(m, out.o, wiring.flipped(self.resp))
        m.d.comb += self.idle.eq(outstanding == 0)
        return m
