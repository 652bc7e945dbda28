"""What the engine's command flows share: their ports, the hand-over to and from the
command router, and the connection check and failure steps POST and UPDATE both take.

A flow is a small FSM that runs one command (OFFLOAD, POST, UPDATE) or one scrubber
finding to its end, against the state tables, and hands back one result:

    start    In     a one-cycle pulse from a register in the router: run the command
                    in `desc` (held by the router until `done` is taken)
    desc     In     the command descriptor (COMMAND)
    done     Out    stream FLOW_DONE, from registers, held until taken: `code` 0 and
                    `result` (the completion's result field), or the ErrorCode that
                    refuses the command; `events` asks the router for
                    Retrieve(HardwareFailure) and Abort of `ev_handle` (`ev_host`)
                    before the completion
    tables   Out    this flow's table requests (merged with the others': rtl/portmux.py)
    ecc_err  Out    pulse: ERR_STATUS.ECC_UNCORRECTABLE
    quarantine Out  pulse: one more row or request entry quarantined
    upset    Out    the flow's state register left its transitions (rtl/fsmguard.py):
                    the router halts the engine in the same cycle

Both directions of the hand-over are registers, so no path crosses from the router's
FSM into a flow's or back in one cycle.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import COMMAND, HANDLE, IDENT, EngineParams, ErrorCode, ObjType, data_words, meta_layout
from chimney.contract.rows import GEN_BITS

from .dma import read_req_layout
from .fsmguard import StateGuard
from .tableio import TableIO
from .tables import tables_signature

__all__ = ["FLOW_DONE", "MAX_WORDS", "CommandFlow", "ConnectionFlow", "load_ports", "META_FAILED", "META_DETACHED"]

FLOW_DONE = data.StructLayout({"code": 8, "result": 32, "events": 1, "ev_handle": 32, "ev_host": 32})
MAX_WORDS = max(data_words(t) for t in ObjType)


def _meta_bit(name):
    return 1 << meta_layout(EngineParams(), ObjType.TCP).offset(name)


# flag bits of the meta word's common part (the same in every table)
META_FAILED = _meta_bit("failed")
META_DETACHED = _meta_bit("detached")


def load_ports(params):
    """A host read into the engine's ReadCollector (OFFLOAD's and UPDATE's data words):
    `rd_req` goes to the DMA read channel, `col_start` with it; `col_done` / `col_err`
    / `words` are the collector's."""
    return {
        "rd_req": Out(stream.Signature(read_req_layout(params.addr_width))),
        "col_start": Out(1),
        "col_done": In(1), "col_err": In(1), "words": In(64 * MAX_WORDS),
        "load_outside": In(1),        # the load block lies outside every DMA window (the router's)
    }


class CommandFlow(wiring.Component):
    """Base of the command flows: the ports above, the IDLE and DONE states and the
    result registers. A subclass names itself (`NAME`, the FSM's name), adds ports
    (`extra_ports`) and writes its states in `states(m)`; IDLE goes to `FIRST` on
    `start`. `refuse(m, code)` and `succeed(m, result)` end the command."""

    NAME = "flow"
    FIRST = None
    DONE_LAYOUT = FLOW_DONE         # the result `done` carries (the list flow's differs)

    def __init__(self, params, extra=None):
        self.params = params
        super().__init__({
            "start": In(1),
            "desc": In(COMMAND.amaranth()),
            "done": Out(stream.Signature(self.DONE_LAYOUT)),
            "tables": Out(tables_signature(params)),
            "ecc_err": Out(1), "quarantine": Out(1), "upset": Out(1),
            **(extra or {}),
        })

    def word(self, i):
        return self.words[64 * i:64 * i + 64]

    def elaborate(self, platform):
        m = Module()
        self.io = TableIO(m, self.params, self.tables)
        self.guard = guard = StateGuard(m, self.NAME)
        self._done_valid = Signal(name="done_valid")
        self._out = Signal(self.DONE_LAYOUT, name="done_payload")
        m.d.comb += [self.done.valid.eq(self._done_valid), self.done.payload.eq(self._out)]
        g = guard.m
        self.setup(g)
        with m.FSM(name=self.NAME) as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += self._out.eq(0)
                    self.on_start(g)
                    g.next = self.FIRST
            self.states(g)
            with m.State("DONE"):
                with m.If(self.done.ready):
                    m.d.sync += self._done_valid.eq(0)
                    g.next = "IDLE"
        m.d.comb += self.upset.eq(guard.seal(fsm))
        self.fsm = fsm
        return m

    # -- for subclasses -------------------------------------------------------------------
    def setup(self, m):
        """Registers and logic outside the FSM (called before it is built)."""

    def on_start(self, m):
        """Extra work in the cycle `start` is seen (sync assignments)."""

    def states(self, m):
        raise NotImplementedError

    def host_load(self, m, name, on_loaded):
        """States <name> / <name>_WAIT (flows with `load_ports`): read the data words of
        table `self.htype` from `desc.addr` into the collector; a failed read refuses
        the command (DMA_READ), otherwise `on_loaded()` goes on once the last word is in."""
        with m.State(name):
            m.d.comb += [self.rd_req.valid.eq(1), self.rd_req.payload.addr.eq(self.desc.addr),
                         self.rd_req.payload.beats.eq(self.io.dwords(self.htype))]
            with m.If(self.rd_req.ready):
                m.d.comb += self.col_start.eq(1)
                m.next = name + "_WAIT"

        with m.State(name + "_WAIT"):
            with m.If(self.col_done):
                with m.If(self.col_err):
                    self.refuse(m, ErrorCode.DMA_READ)
                with m.Else():
                    on_loaded()

    def refuse(self, m, code):
        m.d.sync += [self._out.code.eq(code), self._done_valid.eq(1)]
        m.next = "DONE"

    def succeed(self, m, result=None):
        if result is not None:
            m.d.sync += self._out.result.eq(result)
        m.d.sync += self._done_valid.eq(1)
        m.next = "DONE"

    def fail_with_events(self, m, code, handle, host):
        """Refuse with `code` after Retrieve(HardwareFailure) and Abort of `handle`."""
        m.d.sync += [self._out.code.eq(code), self._out.events.eq(1), self._out.ev_handle.eq(handle),
                     self._out.ev_host.eq(host), self._done_valid.eq(1)]
        m.next = "DONE"

    def finish_events(self, m, handle, host):
        """End without a code (a scrubber finding) after the events for `handle`."""
        m.d.sync += [self._out.events.eq(1), self._out.ev_handle.eq(handle), self._out.ev_host.eq(host),
                     self._done_valid.eq(1)]
        m.next = "DONE"


class ConnectionFlow(CommandFlow):
    """POST and UPDATE: both check the object's meta word first and fail the object when
    its state is found lost. The handle's fields are registered from `desc` at start."""

    def setup(self, m):
        S = Signal
        self.htype, self.hindex, self.hgen, self.hrsvd = S(2, name="htype"), S(16, name="hindex"), \
            S(GEN_BITS, name="hgen"), S(6, name="hrsvd")
        self.meta_raw, self.meta_ue = S(64, name="meta_raw"), S(name="meta_ue")
        self.ident_raw, self.ident_ue = S(64, name="ident_raw"), S(name="ident_ue")
        self.ident = data.View(IDENT.amaranth(), self.ident_raw)
        self._handle_view = data.View(HANDLE.amaranth(), self.desc.handle)

    def on_start(self, m):
        h = self._handle_view
        m.d.sync += [self.htype.eq(h.type), self.hindex.eq(h.index), self.hgen.eq(h.gen), self.hrsvd.eq(h.rsvd)]

    def read_meta_checked(self, m, name, on_live):
        """States <name>_META / <name>_META_WAIT: read meta and ident of (htype, hindex)
        and refuse the command unless the row is live, intact, of the handle's generation
        and not failed; `on_live()` goes on in the cycle the meta word arrives."""
        io = self.io
        with m.State(name + "_META"):
            io.read(self.htype, "meta", self.hindex)
            io.read(self.htype, "ident", self.hindex)
            m.next = name + "_META_WAIT"

        with m.State(name + "_META_WAIT"):
            mv, mw, mue = io.rv["meta"]
            iv, iw, iue = io.rv["ident"]
            with m.If(mv):
                m.d.sync += [self.meta_raw.eq(mw), self.meta_ue.eq(mue), self.ident_raw.eq(iw),
                             self.ident_ue.eq(iue)]
                valid, poisoned, gen, failed = (io.mfield(mw, self.htype, n)
                                                for n in ("valid", "poisoned", "gen", "failed"))
                with m.If(mue):
                    m.next = "CMD_POISON"
                with m.Elif(~valid):
                    self.refuse(m, ErrorCode.STALE_HANDLE)
                with m.Elif(poisoned):
                    self.refuse(m, ErrorCode.CONN_FAILED)
                with m.Elif(gen != self.hgen):
                    self.refuse(m, ErrorCode.STALE_HANDLE)
                with m.Elif(failed):
                    self.refuse(m, ErrorCode.CONN_FAILED)
                with m.Else():
                    on_live()

    def failure_states(self, m):
        """CMD_POISON: the meta word itself was lost: poison the row. CMD_CONN_FAIL: the
        row's state was lost (meta intact): mark it failed. Either way the command is
        refused with CONN_FAILED, after the events when the object is a connection."""
        io = self.io
        host = Mux(self.ident_ue, 0, self.ident.host_handle)
        with m.State("CMD_POISON"):
            m.d.comb += [self.ecc_err.eq(1), self.quarantine.eq(1)]
            io.write(self.htype, "meta", self.hindex,
                     io.meta_value(self.htype, valid=1, failed=1, poisoned=1, gen=self.hgen))
            self._conn_failed(m, host)

        with m.State("CMD_CONN_FAIL"):
            m.d.comb += self.ecc_err.eq(1)
            io.write(self.htype, "meta", self.hindex, self.meta_raw | META_FAILED)
            self._conn_failed(m, host)

    def _conn_failed(self, m, host):
        with m.If(self.htype == ObjType.TCP):
            self.fail_with_events(m, ErrorCode.CONN_FAILED, self.desc.handle, host)
        with m.Else():
            self.refuse(m, ErrorCode.CONN_FAILED)
