"""POST_SEND / POST_RECV: one more request on a connection's list (docs/interface.md).

    (CommandFlow ports: start, desc, done, tables, ecc_err, quarantine, upset)

Decides, in this order: the handle's form (BAD_HANDLE: a TCP handle of this build), the
length (BAD_LENGTH: 1..MAX_POST_LENGTH), the connection's meta word (ConnectionFlow:
lost -> poisoned, free or another generation -> STALE_HANDLE, failed -> CONN_FAILED),
a free request entry (TABLE_FULL: one look at every entry from the allocation pointer
on), and the list's tail entry (lost -> the new entry is given back and the connection
fails). Then the entry is written, linked after the tail, and the meta word's head,
tail and count move.
"""

from amaranth.hdl import Signal, Mux
from amaranth.lib import data

from chimney.contract import EngineParams, ErrorCode, ObjType, Opcode, MAX_POST_LENGTH

from .flow import ConnectionFlow
from .pack import pack

__all__ = ["PostFlow"]


class PostFlow(ConnectionFlow):
    NAME = "post"
    FIRST = "POST_CHECK"

    def __init__(self, params: EngineParams = EngineParams()):
        super().__init__(params)

    def setup(self, m):
        super().setup(m)
        p = self.params
        self.scan_at, self.scan_left = Signal(16, name="scan_at"), Signal(17, name="scan_left")
        self.row = Signal(16, name="row")
        self.next_req = Signal(16, name="next_req")
        # POST_CHECK's tests, registered from the descriptor (held by the router from before
        # `start`), so POST_CHECK decides from flops
        h, desc = self._handle_view, self.desc
        self.bad_handle, self.bad_length = Signal(name="bad_handle"), Signal(name="bad_length")
        m.d.sync += [self.bad_handle.eq((h.type != ObjType.TCP) | (h.rsvd != 0) | (h.index >= p.n_tcp)),
                     self.bad_length.eq((desc.count == 0) | (desc.count > MAX_POST_LENGTH))]

    def states(self, m):
        io, p, desc = self.io, self.params, self.desc
        pool, lay = io.pool, io.pool_lay

        with m.State("POST_CHECK"):
            with m.If(self.bad_handle):
                self.refuse(m, ErrorCode.BAD_HANDLE)
            with m.Elif(self.bad_length):
                self.refuse(m, ErrorCode.BAD_LENGTH)
            with m.Else():
                m.next = "POST_META"

        def live():
            m.d.sync += [self.scan_at.eq(self.next_req), self.scan_left.eq(p.n_req)]
            m.next = "POST_SCAN"

        self.read_meta_checked(m, "POST", live)
        self.failure_states(m)

        # one look at every pool entry from the allocation pointer on, wrapping
        with m.State("POST_SCAN"):
            m.d.comb += [pool.rd_en.eq(1), pool.rd_addr.eq(self.scan_at)]
            m.next = "POST_SCAN_WAIT"

        with m.State("POST_SCAN_WAIT"):
            entry = data.View(lay.amaranth(), pool.rd_data)
            with m.If(pool.rd_valid):
                with m.If(~pool.rd_ue & ~entry.used & ~entry.poisoned):
                    m.d.sync += self.row.eq(self.scan_at)
                    m.next = "POST_FOUND"
                with m.Elif(self.scan_left == 1):
                    self.refuse(m, ErrorCode.TABLE_FULL)
                with m.Else():
                    m.d.sync += [self.scan_left.eq(self.scan_left - 1),
                                 self.scan_at.eq(Mux(self.scan_at == p.n_req - 1, 0, self.scan_at + 1))]
                    m.next = "POST_SCAN"

        tm = io.metas[ObjType.TCP]
        live_meta = data.View(tm.amaranth(), self.meta_raw).u.live

        with m.State("POST_FOUND"):
            ent = pack(lay, used=1, cookie=desc.cookie, length=desc.count, kind=desc.opcode == Opcode.POST_RECV)
            m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(self.row), pool.wr_data.eq(ent)]
            m.d.sync += self.next_req.eq(Mux(self.row == p.n_req - 1, 0, self.row + 1))
            with m.If(live_meta.req_count == 0):
                m.next = "POST_META_UPD"
            with m.Else():
                m.next = "POST_TAIL_RD"

        with m.State("POST_TAIL_RD"):
            m.d.comb += [pool.rd_en.eq(1), pool.rd_addr.eq(live_meta.req_tail)]
            m.next = "POST_TAIL_WAIT"

        with m.State("POST_TAIL_WAIT"):
            with m.If(pool.rd_valid):
                pe = data.View(lay.amaranth(), pool.rd_data)
                with m.If(pool.rd_ue | ~pe.used | pe.poisoned):
                    # the list's tail is lost: give the new entry back and fail the connection
                    m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(self.row), pool.wr_data.eq(0)]
                    m.next = "CMD_CONN_FAIL"
                with m.Else():
                    upd = Signal(64)
                    off = lay.offset("next")
                    m.d.comb += [upd.eq(pool.rd_data), upd[off:off + p.req_bits].eq(self.row)]
                    m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(live_meta.req_tail), pool.wr_data.eq(upd)]
                    m.next = "POST_META_UPD"

        with m.State("POST_META_UPD"):
            upd = Signal(tm.amaranth())
            m.d.comb += [upd.eq(self.meta_raw), upd.u.live.req_tail.eq(self.row),
                         upd.u.live.req_count.eq(live_meta.req_count + 1)]
            with m.If(live_meta.req_count == 0):
                m.d.comb += upd.u.live.req_head.eq(self.row)
            io.write(ObjType.TCP, "meta", self.hindex, upd.as_value())
            self.succeed(m)
