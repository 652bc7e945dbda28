"""UPDATE: new cached fields for a neighbor or path (docs/interface.md, "UPDATE").

    (CommandFlow ports: start, desc, done, tables, ecc_err, quarantine, upset)
    rd_req, col_start, col_done, col_err, words   the new words' host read (flow.load_ports)
    row_req, row_resp    the row through the RowReader (SECDED on every word, the row CRC)
    slot, slot_busy      the emitter row slot the RowReader fills, and whether it is busy
    crc_fail, crc_mem, crc_addr   the row CRC caught what SECDED could not: the reporter

Decides, in this order: the handle's form (BAD_HANDLE: type given twice, consistently,
an index of this build), the address (BAD_ADDRESS), the object's meta word
(ConnectionFlow), the read (DMA_READ), the row (lost -> the object fails,
CONN_FAILED). A TCP handle completes after the meta check: its cached state lives in
the driver. Then each data word is written with its cached bits from the host and
the rest kept, and the ident word gets the new row CRC.
"""

from amaranth.hdl import Signal, Const
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ErrorCode, ObjType, IDENT, data_words, cached_mask, memory_id
from chimney.contract.ecc import CRC_INIT, CRC_XOROUT

from .crc import crc32c_step
from .emitter import SLOT_SEL_BITS
from .flow import ConnectionFlow, load_ports
from .pack import pack, u64
from .rowreader import ROW_REQ, row_resp_layout

__all__ = ["UpdateFlow"]


class UpdateFlow(ConnectionFlow):
    NAME = "update"
    FIRST = "UPD_CHECK"

    def __init__(self, params: EngineParams = EngineParams()):
        super().__init__(params, {
            **load_ports(params),
            "row_req": Out(stream.Signature(ROW_REQ)), "row_resp": In(stream.Signature(row_resp_layout(params))),
            "slot": In(SLOT_SEL_BITS), "slot_busy": In(1),
            "crc_fail": Out(1), "crc_mem": Out(5), "crc_addr": Out(24),
        })

    def setup(self, m):
        super().setup(m)
        S = Signal
        self.base, self.waddr, self.wword = S(24, name="base"), S(24, name="waddr"), S(64, name="wword")
        self.issue_i, self.issue_n, self.last = S(8, name="issue_i"), S(8, name="issue_n"), S(8, name="last")
        self.oldw = [S(64, name=f"oldw{i}") for i in range(2)]
        self.row_bad = S(name="row_bad")
        self.crc, self.crc_word, self.crc_pend = S(32, name="crc"), S(64, name="crc_word"), S(name="crc_pend")
        with m.If(self.crc_pend):
            m.d.sync += [self.crc.eq(crc32c_step(self.crc, self.crc_word)), self.crc_pend.eq(0)]
        # UPD_CHECK's tests, registered from the descriptor (held by the router from before
        # `start`), so UPD_CHECK decides from flops
        h, desc = self._handle_view, self.desc
        self.bad_handle, self.bad_address = S(name="bad_handle"), S(name="bad_address")
        m.d.sync += [self.bad_handle.eq((desc.obj_type == 0) | (desc.obj_type > 3) | (h.type != desc.obj_type[:2])
                                        | (h.rsvd != 0) | (h.index >= self.io.depth_of(h.type))),
                     self.bad_address.eq((desc.addr == 0) | (desc.addr[:3] != 0) | self.load_outside)]

    def states(self, m):
        io, desc = self.io, self.desc

        with m.State("UPD_CHECK"):
            with m.If(self.bad_handle):
                self.refuse(m, ErrorCode.BAD_HANDLE)
            with m.Elif(self.bad_address):
                self.refuse(m, ErrorCode.BAD_ADDRESS)
            with m.Else():
                m.next = "UPD_META"

        def live():
            with m.If(self.htype == ObjType.TCP):
                self.succeed(m)                 # TCP cached state lives in the driver
            with m.Else():
                m.next = "UPD_LOAD"

        self.read_meta_checked(m, "UPD", live)
        self.failure_states(m)

        def loaded():
            m.next = "UPD_ROW"

        self.host_load(m, "UPD_LOAD", loaded)

        # the row's data words through the RowReader into the slot (checked: SECDED, CRC)
        with m.State("UPD_ROW"):
            with m.If(~self.slot_busy):
                m.d.sync += self.base.eq(io.row_base(self.htype, self.hindex))
                m.next = "UPD_ROW_REQ"

        with m.State("UPD_ROW_REQ"):
            q = self.row_req.payload
            m.d.comb += [self.row_req.valid.eq(1), q.type.eq(self.htype), q.index.eq(self.hindex),
                         q.base.eq(self.base), q.slot.eq(self.slot), q.with_meta.eq(0),
                         q.ident.eq(self.ident_raw), q.ident_ue.eq(self.ident_ue)]
            with m.If(self.row_req.ready):
                m.next = "UPD_ROW_WAIT"

        with m.State("UPD_ROW_WAIT"):
            r = self.row_resp.payload
            m.d.comb += self.row_resp.ready.eq(1)
            with m.If(self.row_resp.valid):
                m.d.sync += [self.oldw[0].eq(r.word0), self.oldw[1].eq(r.word1)]
                with m.If(r.crc_bad):
                    m.d.comb += [self.crc_fail.eq(1), self.crc_addr.eq(self.hindex)]
                    for t in ObjType:
                        with m.If(self.htype == t):
                            m.d.comb += self.crc_mem.eq(memory_id(t, "data"))
                with m.If(r.lost):
                    m.next = "CMD_CONN_FAIL"
                with m.Else():
                    m.d.sync += [self.issue_i.eq(0), self.crc.eq(CRC_INIT), self.waddr.eq(self.base)]
                    m.next = "UPD_MERGE"

        # each data word: its cached bits from the host, the rest as stored; merged a
        # cycle before its write (`wword`), selected by a register (`issue_n`)
        def merged(index, old):
            word = Signal(64)
            for t in (ObjType.NEIGHBOR, ObjType.PATH):
                mask = cached_mask(t)
                with m.If(self.htype == t):
                    for i in range(data_words(t)):
                        wmask = Const((mask >> (64 * i)) & ((1 << 64) - 1), 64)
                        with m.If(index == i):
                            m.d.comb += word.eq((old[i] & ~wmask) | (self.word(i) & wmask))
            return word

        with m.State("UPD_MERGE"):
            m.d.sync += [self.wword.eq(merged(Const(0, 1), self.oldw)), self.issue_n.eq(1),
                         self.last.eq(io.dwords(self.htype) - 1)]
            m.next = "UPD_WRITE"

        with m.State("UPD_WRITE"):
            io.write(self.htype, "data", self.waddr, self.wword)
            m.d.sync += [self.issue_i.eq(self.issue_n), self.issue_n.eq(self.issue_n + 1),
                         self.wword.eq(merged(self.issue_n, self.oldw)), self.waddr.eq(self.waddr + 1),
                         self.crc_word.eq(self.wword), self.crc_pend.eq(1)]
            with m.If(self.issue_i == self.last):
                m.next = "UPD_CRC"

        with m.State("UPD_CRC"):
            m.d.sync += [self.crc_word.eq(u64(self.ident.host_handle)), self.crc_pend.eq(1)]
            m.next = "UPD_IDENT"

        with m.State("UPD_IDENT"):
            with m.If(~self.crc_pend):
                io.write(self.htype, "ident", self.hindex,
                         pack(IDENT, host_handle=self.ident.host_handle, crc=self.crc ^ CRC_XOROUT))
                self.succeed(m)
