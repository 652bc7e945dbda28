"""OFFLOAD: a new object from the host's data words (docs/interface.md, "OFFLOAD").

    (CommandFlow ports: start, desc, done, tables, ecc_err, quarantine, upset)
    rd_req, col_start, col_done, col_err, words   the data words' host read (flow.load_ports)

Decides, in this order: the object type (BAD_HANDLE), the data address (BAD_ADDRESS),
the parent handle's form (PARENT; a neighbor has none), the parent's meta word (PARENT:
lost, free, failed, poisoned or another generation), the read (DMA_READ), a TCP state
above TimeWait (BAD_STATE), a free row (TABLE_FULL: one look at every row of the table
from the allocation pointer on). Then it writes the data words, the ident word (host
handle and the row CRC, folded one cycle behind the writes from a registered word) and
the meta word, moves the allocation pointer past the row and counts the new child on its
parent. `result` is the new handle.
"""

from amaranth.hdl import Signal, Mux
from amaranth.lib import data

from chimney.contract import EngineParams, ErrorCode, ObjType, HANDLE, IDENT
from chimney.contract.ecc import CRC_INIT, CRC_XOROUT
from chimney.contract.rows import GEN_BITS

from .crc import crc32c_step
from .flow import CommandFlow, MAX_WORDS, load_ports
from .pack import pack, u64, TYPE_NAME

__all__ = ["OffloadFlow", "STATE_MAX"]

STATE_MAX = 10                  # TCP_OFFLOAD_CONNECTION_STATE TimeWait


class OffloadFlow(CommandFlow):
    NAME = "offload"
    FIRST = "OFF_CHECK"

    def __init__(self, params: EngineParams = EngineParams()):
        super().__init__(params, load_ports(params))

    def setup(self, m):
        S = Signal
        self.htype, self.ptype, self.parent_idx = S(2, name="htype"), S(2, name="ptype"), S(16, name="parent_idx")
        self.parent_raw = S(64, name="parent_raw")
        self.scan_at, self.scan_left = S(16, name="scan_at"), S(17, name="scan_left")
        self.row, self.row_gen = S(16, name="row"), S(GEN_BITS, name="row_gen")
        self.issue_i, self.issue_n, self.last = S(8, name="issue_i"), S(8, name="issue_n"), S(8, name="last")
        self.waddr, self.wword = S(24, name="waddr"), S(64, name="wword")
        self.next_alloc = {t: S(16, name=f"next_alloc_{TYPE_NAME[t]}") for t in ObjType}
        # the CRC folds a cycle behind the writes, from a registered word
        self.crc, self.crc_word, self.crc_pend = S(32, name="crc"), S(64, name="crc_word"), S(name="crc_pend")
        with m.If(self.crc_pend):
            m.d.sync += [self.crc.eq(crc32c_step(self.crc, self.crc_word)), self.crc_pend.eq(0)]
        # the word written next is selected a cycle ahead (by `issue_n`, a register), so
        # the write data leaves from a register, not from a nine-way multiplexer
        self.word_n = Signal(64, name="word_n")
        # OFF_CHECK's tests, registered from the descriptor (held by the router from before
        # `start`), so OFF_CHECK decides from flops
        desc, otype = self.desc, self.desc.obj_type[:2]
        ph = data.View(HANDLE.amaranth(), desc.handle)
        self.bad_type, self.bad_address = S(name="bad_type"), S(name="bad_address")
        self.handle_set, self.parent_ok = S(name="handle_set"), S(name="parent_ok")
        m.d.sync += [self.bad_type.eq((desc.obj_type == 0) | (desc.obj_type > 3)),
                     self.bad_address.eq((desc.addr == 0) | (desc.addr[:3] != 0) | self.load_outside),
                     self.handle_set.eq(desc.handle != 0),
                     self.parent_ok.eq((ph.type == otype - 1) & (ph.rsvd == 0)
                                       & (ph.index < self.io.depth_of(ph.type)))]
        with m.Switch(self.issue_n):
            for i in range(MAX_WORDS):
                with m.Case(i):
                    m.d.comb += self.word_n.eq(self.word(i))

    def states(self, m):
        io, p, desc = self.io, self.params, self.desc
        otype = desc.obj_type[:2]
        ph = data.View(HANDLE.amaranth(), desc.handle)

        with m.State("OFF_CHECK"):
            m.d.sync += [self.htype.eq(otype), self.ptype.eq(otype - 1), self.parent_idx.eq(ph.index)]
            with m.If(self.bad_type):
                self.refuse(m, ErrorCode.BAD_HANDLE)
            with m.Elif(self.bad_address):
                self.refuse(m, ErrorCode.BAD_ADDRESS)
            with m.Elif(otype == ObjType.NEIGHBOR):
                with m.If(self.handle_set):
                    self.refuse(m, ErrorCode.PARENT)
                with m.Else():
                    m.next = "OFF_LOAD"
            with m.Elif(~self.parent_ok):
                self.refuse(m, ErrorCode.PARENT)
            with m.Else():
                m.next = "OFF_PARENT_RD"

        with m.State("OFF_PARENT_RD"):
            io.read(self.ptype, "meta", self.parent_idx)
            m.next = "OFF_PARENT_WAIT"

        with m.State("OFF_PARENT_WAIT"):
            valid, word, ue = io.rv["meta"]
            with m.If(valid):
                m.d.sync += self.parent_raw.eq(word)
                bad = Signal()
                f = lambda path: io.mfield(word, self.ptype, path)
                m.d.comb += bad.eq(ue | ~f("valid") | f("failed") | f("poisoned") | (f("gen") != ph.gen))
                with m.If(bad):
                    self.refuse(m, ErrorCode.PARENT)
                with m.Else():
                    m.next = "OFF_LOAD"

        def loaded():
            state_field = self.word(0)[:4]          # TCP_DATA.State is the first field
            with m.If((self.htype == ObjType.TCP) & (state_field > STATE_MAX)):
                self.refuse(m, ErrorCode.BAD_STATE)
            with m.Else():
                for t in ObjType:
                    with m.If(self.htype == t):
                        m.d.sync += self.scan_at.eq(self.next_alloc[t])
                m.d.sync += self.scan_left.eq(io.depth_of(self.htype))
                m.next = "OFF_SCAN"

        self.host_load(m, "OFF_LOAD", loaded)

        # one look at every row from the allocation pointer on, wrapping
        with m.State("OFF_SCAN"):
            io.read(self.htype, "meta", self.scan_at)
            m.next = "OFF_SCAN_WAIT"

        with m.State("OFF_SCAN_WAIT"):
            valid, word, ue = io.rv["meta"]
            depth = io.depth_of(self.htype)
            free = Signal(name="off_free")
            m.d.comb += free.eq(~ue & ~io.mfield(word, self.htype, "valid") & ~io.mfield(word, self.htype, "poisoned"))
            with m.If(valid):
                with m.If(free):
                    m.d.sync += [self.row.eq(self.scan_at), self.row_gen.eq(word[4:4 + GEN_BITS])]
                    m.next = "OFF_FOUND"
                with m.Elif(self.scan_left == 1):
                    self.refuse(m, ErrorCode.TABLE_FULL)
                with m.Else():
                    m.d.sync += [self.scan_left.eq(self.scan_left - 1),
                                 self.scan_at.eq(Mux(self.scan_at == depth - 1, 0, self.scan_at + 1))]
                    m.next = "OFF_SCAN"

        with m.State("OFF_FOUND"):
            # the row's first data word, from registers; the writes count up from it
            m.d.sync += [self.issue_i.eq(0), self.crc.eq(CRC_INIT), self.waddr.eq(io.row_base(self.htype, self.row)),
                         self.wword.eq(self.word(0)), self.issue_n.eq(1), self.last.eq(io.dwords(self.htype) - 1)]
            m.next = "OFF_WRITE"

        with m.State("OFF_WRITE"):
            io.write(self.htype, "data", self.waddr, self.wword)
            m.d.sync += [self.issue_i.eq(self.issue_n), self.issue_n.eq(self.issue_n + 1), self.wword.eq(self.word_n),
                         self.waddr.eq(self.waddr + 1), self.crc_word.eq(self.wword), self.crc_pend.eq(1)]
            with m.If(self.issue_i == self.last):
                m.next = "OFF_CRC"

        # the ident word's CRC covers the host handle after the data words
        with m.State("OFF_CRC"):
            m.d.sync += [self.crc_word.eq(u64(desc.cookie)), self.crc_pend.eq(1)]
            m.next = "OFF_IDENT"

        with m.State("OFF_IDENT"):
            with m.If(~self.crc_pend):            # (the host handle's fold is done)
                idv = pack(IDENT, host_handle=desc.cookie, crc=self.crc ^ CRC_XOROUT)
                io.write(self.htype, "ident", self.row, idv)
                io.write(self.htype, "meta", self.row,
                         io.meta_value(self.htype, valid=1, gen=self.row_gen, **{"u.live.parent": self.parent_idx}))
                for t in ObjType:
                    with m.If(self.htype == t):
                        m.d.sync += self.next_alloc[t].eq(Mux(self.row == p.depth(t) - 1, 0, self.row + 1))
                m.d.sync += self._out.result.eq(io.handle(self.htype, self.row, self.row_gen))
                with m.If(self.htype == ObjType.NEIGHBOR):
                    self.succeed(m)
                with m.Else():
                    m.next = "OFF_PARENT_INC"

        with m.State("OFF_PARENT_INC"):
            io.write(self.ptype, "meta", self.parent_idx, io.with_refcount(self.parent_raw, self.ptype, +1))
            self.succeed(m)
