"""DMA address windows: the host memory the engine may touch, defined once.

An IP block on a host bus without an IOMMU must not be a confused deputy: the driver
programs up to `EngineParams.n_windows` windows (`WINn_BASE`, `WINn_LIMIT`, both
inclusive byte addresses, whole 8-byte beats: a base's low three bits read 0, a limit's 1) before `CTRL.ENABLE`; while the engine is enabled they are
locked. Every access the engine is told to make must lie inside one window, first
byte and last: an address outside is refused with `BAD_ADDRESS` before a beat is issued
(docs/interface.md, *Addresses*). After reset window 0 covers every address the bus can name
(all of memory in a 64-bit build) and the others are empty (base > limit), so a
driver that never programs them sees an engine without windows.

`inside` is written with operators that mean the same on Python ints and on Amaranth
values (the sum widens to 65 bits in both), so the reference model and the RTL share it;
the `*_span` functions say how many bytes each kind of address names.
"""

from .descriptors import (LIST_ENTRY_BYTES, REQ_HEADER_BYTES, REQ_RECORD_BYTES, COMMAND_BYTES,
                          COMPLETION_BYTES, EVENT_BYTES)
from .ndis import WRITE_BACK
from .rows import data_words
from .status import ObjType

__all__ = ["EMPTY", "GRAIN", "reset_windows", "inside", "in_any", "STATUS_SPAN", "state_span",
           "req_span", "list_span", "load_span", "ring_span", "RING_ENTRY_BYTES"]

ADDR_MAX = (1 << 64) - 1
EMPTY = (ADDR_MAX & ~7, 7)          # base > limit: no address is inside
#: windows are whole bus beats (8 bytes, AxSIZE): a base's low 3 bits are 0, a limit's 1, so
#: an access whose bytes are inside has every beat of its burst inside
GRAIN = 8

#: the Status word
STATUS_SPAN = 4
#: bytes of one ring entry, by ring register prefix
RING_ENTRY_BYTES = {"CMDQ": COMMAND_BYTES, "CPLQ": COMPLETION_BYTES, "EVTQ": EVENT_BYTES}


def reset_windows(params_or_n, addr_width=64):
    """The windows after reset: window 0 is every address the DMA bus can name (all of
    memory at 64 bits; below 2^addr_width otherwise, so a narrower build refuses an address
    with bits above its bus instead of truncating it), the others empty. Takes an
    EngineParams or a window count."""
    n = getattr(params_or_n, "n_windows", params_or_n)
    addr_width = getattr(params_or_n, "addr_width", addr_width)
    return [(0, (1 << addr_width) - 1)] + [EMPTY] * (n - 1)


def inside(addr, nbytes, base, limit):
    """The `nbytes` bytes from `addr` lie in [base, limit]. `nbytes` >= 1."""
    return (base <= addr) & (addr + (nbytes - 1) <= limit)


def in_any(addr, nbytes, windows):
    """Python: inside at least one of `windows` [(base, limit), ...]."""
    return any(inside(addr, nbytes, b, l) for b, l in windows)


def state_span(obj_type):
    """The delegated structure from its header up to the last byte the engine writes
    (a path writes none: 0, no check)."""
    wb = WRITE_BACK[ObjType(obj_type)]
    return wb.end if wb.nbytes else 0


def req_span(req_cap):
    """The request header and `req_cap` records."""
    return REQ_HEADER_BYTES + REQ_RECORD_BYTES * req_cap


def list_span(count):
    return LIST_ENTRY_BYTES * count


def load_span(obj_type):
    """An OFFLOAD or UPDATE load block: the object's data words."""
    return 8 * data_words(ObjType(obj_type))


def ring_span(log2, entry_bytes):
    return entry_bytes << log2
