"""The row reader: one object's row out of the state tables, checked, into an emitter slot.

    req     In(stream ROW_REQ)   type, index, its first data word's address (`base`), the
                                 emitter slot to fill, and whether to read the meta and
                                 ident words too (`with_meta`; otherwise `ident` is given)
    resp    Out(stream ROW_RESP) meta and ident words with their SECDED verdicts, whether
                                 a data word was uncorrectable (`data_ue`), whether the row
                                 CRC failed on an otherwise readable row (`crc_bad`), `lost`
                                 (any of those), and the first two data words (UPDATE
                                 merges them); held until taken
    tables  Out                  read requests (meta, ident, data of the three tables)
    slot_*  Out                  each data word as it arrives, to the emitter's row slot

It decides nothing about the object; it reads. Addresses come from a register that
starts at `base` and counts up, one data word per cycle, so no multiply or add of a
row index sits in the issue path. The row CRC is folded as the words arrive; the host
handle's step and the compare take one registered cycle each after the last word.
"""

from amaranth.hdl import Module, Signal, Const, Cat
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, data_words, IDENT
from chimney.contract.ecc import CRC_INIT, CRC_XOROUT

from .crc import crc32c_step
from .tables import tables_signature

__all__ = ["ROW_REQ", "ROW_RESP", "RowReader", "TYPE_NAME"]

TYPE_NAME = {ObjType.NEIGHBOR: "neighbor", ObjType.PATH: "path", ObjType.TCP: "tcp"}

ROW_REQ = data.StructLayout({
    "type": 2, "index": 16, "base": 24, "slot": 1, "with_meta": 1,
    "ident": 64, "ident_ue": 1,                 # with_meta = 0: the ident word already read
})
ROW_RESP = data.StructLayout({
    "meta": 64, "meta_ue": 1, "ident": 64, "ident_ue": 1,
    "data_ue": 1, "crc_bad": 1, "lost": 1,
    "word0": 64, "word1": 64,
})


class RowReader(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "req": In(stream.Signature(ROW_REQ)),
            "resp": Out(stream.Signature(ROW_RESP)),
            "tables": Out(tables_signature(params)),
            "slot_we": Out(1), "slot_sel": Out(1), "slot_word": Out(4), "slot_data": Out(64),
        })

    def _port(self, t, kind):
        return getattr(self.tables, f"{TYPE_NAME[t]}_{kind}")

    def elaborate(self, platform):
        m = Module()
        cur = Signal(ROW_REQ)
        nwords = Signal(4)                       # data words of cur.type
        issue_i, recv_i = Signal(4), Signal(4)
        addr = Signal(24)
        crc = Signal(32)
        resp = Signal(ROW_RESP)
        m.d.comb += self.resp.payload.eq(resp)
        ident = data.View(IDENT.amaranth(), resp.ident)

        # responses of the current type's memories
        rv = {}
        for kind in ("meta", "ident", "data"):
            valid, word, ue = Signal(name=f"rr_{kind}_valid"), Signal(64, name=f"rr_{kind}_data"), \
                Signal(name=f"rr_{kind}_ue")
            for t in ObjType:
                pt = self._port(t, kind)
                with m.If(cur.type == t):
                    m.d.comb += [valid.eq(pt.rd_valid), word.eq(pt.rd_data), ue.eq(pt.rd_ue)]
            rv[kind] = (valid, word, ue)

        def read(kind, address):
            for t in ObjType:
                with m.If(cur.type == t):
                    pt = self._port(t, kind)
                    m.d.comb += [pt.rd_en.eq(1), pt.rd_addr.eq(address)]

        final = Signal(32)
        with m.FSM(name="row_reader"):
            with m.State("IDLE"):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    req = self.req.payload
                    m.d.sync += [cur.eq(req), addr.eq(req.base), issue_i.eq(0), recv_i.eq(0), crc.eq(CRC_INIT),
                                 resp.meta.eq(0), resp.meta_ue.eq(0),
                                 resp.ident.eq(req.ident), resp.ident_ue.eq(req.ident_ue & ~req.with_meta),
                                 resp.data_ue.eq(0)]
                    for t in ObjType:
                        with m.If(req.type == t):
                            m.d.sync += nwords.eq(data_words(t))
                    m.next = "READ"

            with m.State("READ"):
                with m.If(issue_i != nwords):
                    read("data", addr)
                    m.d.sync += [addr.eq(addr + 1), issue_i.eq(issue_i + 1)]
                    with m.If((issue_i == 0) & cur.with_meta):
                        read("meta", cur.index)
                        read("ident", cur.index)
                mv, mw, mue = rv["meta"]
                iv, iw, iue = rv["ident"]
                with m.If(mv & cur.with_meta):
                    m.d.sync += [resp.meta.eq(mw), resp.meta_ue.eq(mue), resp.ident.eq(iw), resp.ident_ue.eq(iue)]
                valid, word, ue = rv["data"]
                with m.If(valid):
                    m.d.comb += [self.slot_we.eq(1), self.slot_sel.eq(cur.slot), self.slot_word.eq(recv_i),
                                 self.slot_data.eq(word)]
                    m.d.sync += [recv_i.eq(recv_i + 1), resp.data_ue.eq(resp.data_ue | ue),
                                 crc.eq(crc32c_step(crc, word))]
                    with m.If(recv_i == 0):
                        m.d.sync += resp.word0.eq(word)
                    with m.If(recv_i == 1):
                        m.d.sync += resp.word1.eq(word)
                    with m.If(recv_i == nwords - 1):
                        m.next = "CRC_HANDLE"

            # the host handle's CRC step, then the compare: one register each
            with m.State("CRC_HANDLE"):
                m.d.sync += final.eq(crc32c_step(crc, Cat(ident.host_handle, Const(0, 64 - len(ident.host_handle)))) ^ CRC_XOROUT)
                m.next = "CRC_CHECK"

            with m.State("CRC_CHECK"):
                readable = ~resp.data_ue & ~resp.ident_ue
                crc_bad = Const(int(self.params.ecc), 1) & readable & (final != ident.crc)
                m.d.sync += [resp.crc_bad.eq(crc_bad), resp.lost.eq(~readable | crc_bad)]
                m.next = "RESP"

            with m.State("RESP"):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.next = "IDLE"
        return m
