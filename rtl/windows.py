"""DMA address windows in hardware (chimney.contract.windows): the window test, and the
stage that applies it to QUERY/TERMINATE list entries.

    EntryWindows
      i        In(stream)   list entries from the ReadCollector (raw 256 bits, DMA error)
      o        Out(stream)  the same entries, each with three bits: its Status word, its
                            delegated structure and its request array lie inside a window
      windows  In           the windows latched at CTRL.ENABLE
      clear    In           discard what is held (a list starts, or its read failed)
      empty    Out          nothing held

The bits are facts of the entry checks (`status_win`, `state_win`, `req_win` in
chimney.contract.checks); EntryAdmit reads them. The sums and compares (65-bit, one
per window and address) end in this stage's register slice, so they are not in series
with the check priority tree of the next stage.
"""

from amaranth.hdl import Module, Signal, Mux, ResetInserter
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, HANDLE, LIST_ENTRY
from chimney.contract.windows import inside, STATUS_SPAN, state_span, req_span

from .collector import LIST_ITEM
from .pack import or_all
from .skid import SkidBuffer

__all__ = ["WINDOW", "windows_layout", "any_inside", "WINDOWED", "EntryWindows"]

WINDOW = data.StructLayout({"base": 64, "limit": 64})
WINDOWED = data.StructLayout({"raw": 256, "err": 1, "status_win": 1, "state_win": 1, "req_win": 1})


def windows_layout(params):
    return data.ArrayLayout(WINDOW, params.n_windows)


def any_inside(m, windows, addr, nbytes, name):
    """A signal: the `nbytes` (>= 1) bytes at `addr` lie inside one of `windows`."""
    hit = Signal(name=name)
    m.d.comb += hit.eq(or_all([inside(addr, nbytes, w.base, w.limit) for w in windows]))
    return hit


class EntryWindows(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "i": In(stream.Signature(LIST_ITEM)),
            "o": Out(stream.Signature(WINDOWED)),
            "windows": In(windows_layout(params)),
            "clear": In(1),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.slice = buf = ResetInserter(self.clear)(SkidBuffer(WINDOWED))
        raw = self.i.payload.raw
        le = data.View(LIST_ENTRY.amaranth(), raw)
        h = data.View(HANDLE.amaranth(), raw[:32])
        wins = [self.windows[i] for i in range(self.params.n_windows)]
        # a path writes no delegated bytes (its check does not apply): any span will do
        state_bytes = Mux(h.type == ObjType.TCP, state_span(ObjType.TCP), state_span(ObjType.NEIGHBOR))
        o = buf.i.payload
        m.d.comb += [
            buf.i.valid.eq(self.i.valid), self.i.ready.eq(buf.i.ready),
            o.raw.eq(raw), o.err.eq(self.i.payload.err),
            o.status_win.eq(any_inside(m, wins, le.status_addr, STATUS_SPAN, "status_win")),
            o.state_win.eq(any_inside(m, wins, le.state_addr, state_bytes, "state_win")),
            o.req_win.eq(any_inside(m, wins, le.req_addr, req_span(le.req_cap), "req_win")),
        ]
        wiring.connect(m, buf.o, wiring.flipped(self.o))
        m.d.comb += self.empty.eq(~buf.o.valid & ~buf.skid_valid)
        return m
