"""Byte layouts of the NDIS delegated-state structures the engine writes back.

Computed with the natural alignment of the 64-bit Windows ABI from the declarations
in ndischimney.h (TCP_OFFLOAD_STATE_DELEGATED is 0x80 bytes). The engine writes
each structure from the end of its OFFLOAD_STATE_HEADER (which stays the host's)
to the end of its last variable. Union members that hold host pointers
(SendDataHead/Tail, BufferedData) are written as zero: the driver fills them.
"""

from dataclasses import dataclass

from .rows import DATA
from .status import ObjType


@dataclass(frozen=True)
class CType:
    name: str
    size: int

    @property
    def align(self):
        return self.size


ULONG = CType("ULONG", 4)
USHORT = CType("USHORT", 2)
UCHAR = CType("UCHAR", 1)
ENUM = CType("ULONG", 4)
POINTER = CType("PVOID", 8)


class CStruct:
    def __init__(self, name, members, union=False):
        self.name = name
        self.members = members      # (name, CType | CStruct)
        self.union = union

    @property
    def align(self):
        return max(m.align for _, m in self.members)

    @property
    def size(self):
        if self.union:
            raw = max(m.size for _, m in self.members)
        else:
            raw = 0
            for _, m in self.members:
                raw = -(-raw // m.align) * m.align + m.size
        return -(-raw // self.align) * self.align

    def fields(self, base=0, prefix=""):
        """Yield (dotted_name, byte_offset, CType) of every scalar member."""
        off = 0
        for name, m in self.members:
            if not self.union:
                off = -(-off // m.align) * m.align
            at = base + (0 if self.union else off)
            dotted = prefix + name if name else prefix.rstrip(".")
            if isinstance(m, CStruct):
                yield from m.fields(at, dotted + "." if name else prefix)
            else:
                yield dotted, at, m
            if not self.union:
                off += m.size


HEADER = CStruct("OFFLOAD_STATE_HEADER", [("Length", ULONG), ("RecognizedOptions", ULONG)])

TCP_DELEGATED = CStruct("TCP_OFFLOAD_STATE_DELEGATED", [
    ("Header", HEADER),
    ("State", ENUM), ("Flags", USHORT),
    ("RcvNxt", ULONG), ("RcvWnd", ULONG), ("SndUna", ULONG), ("SndNxt", ULONG),
    ("SndMax", ULONG), ("SndWnd", ULONG), ("MaxSndWnd", ULONG), ("SendWL1", ULONG),
    ("CWnd", ULONG), ("SsThresh", ULONG),
    ("SRtt", USHORT), ("RttVar", USHORT),
    ("TsRecent", ULONG), ("TsRecentAge", ULONG), ("TsTime", ULONG), ("TotalRT", ULONG),
    ("DupAckCount", UCHAR), ("SndWndProbeCount", UCHAR),
    ("KeepAlive", CStruct("", [("ProbeCount", UCHAR), ("TimeoutDelta", ULONG)])),
    ("Retransmit", CStruct("", [("Count", UCHAR), ("TimeoutDelta", ULONG)])),
    ("", CStruct("", [
        ("", CStruct("", [("SendDataHead", POINTER), ("SendDataTail", POINTER)])),
        ("SendBacklogSize", ULONG)], union=True)),
    ("", CStruct("", [("BufferedData", POINTER), ("ReceiveBacklogSize", ULONG)], union=True)),
    ("DWnd", ULONG),
])

PATH_DELEGATED = CStruct("PATH_OFFLOAD_STATE_DELEGATED", [("Header", HEADER)])

NEIGHBOR_DELEGATED = CStruct("NEIGHBOR_OFFLOAD_STATE_DELEGATED", [
    ("Header", HEADER), ("NicReachabilityDelta", ULONG)])

DELEGATED = {ObjType.TCP: TCP_DELEGATED, ObjType.PATH: PATH_DELEGATED,
             ObjType.NEIGHBOR: NEIGHBOR_DELEGATED}


def row_field_name(dotted):
    """NDIS member name -> name of the data-row field that holds it."""
    return dotted.replace(".", "_")


@dataclass(frozen=True)
class WriteBack:
    """Where the engine writes an object's delegated variables."""
    obj_type: ObjType
    struct: CStruct
    start: int                  # first byte written (end of the header)
    end: int                    # one past the last byte written
    fields: tuple               # (row_field, byte_offset, size) of every written variable

    @property
    def nbytes(self):
        return self.end - self.start

    def beats(self, bus_bytes=8):
        """Number of bus beats for a bus_bytes-aligned structure."""
        return -(-self.nbytes // bus_bytes) if self.nbytes else 0

    def image(self, row):
        """The bytes [start, end) the engine writes, from a dict of data-row fields."""
        out = bytearray(self.nbytes)
        for name, off, size in self.fields:
            out[off - self.start:off - self.start + size] = int(row[name]).to_bytes(size, "little")
        return bytes(out)


def _write_back(obj_type):
    struct = DELEGATED[obj_type]
    row = DATA[obj_type]
    written = []
    end = start = HEADER.size
    for dotted, off, ctype in struct.fields():
        if dotted.startswith("Header."):
            continue
        end = max(end, off + ctype.size)
        name = row_field_name(dotted)
        if name in row:
            assert row.field(name).width <= 8 * ctype.size, name
            written.append((name, off, ctype.size))
    return WriteBack(obj_type, struct, start, end, tuple(written))


WRITE_BACK = {t: _write_back(t) for t in ObjType}

# The ABI facts this module must reproduce (ndischimney.h, x64).
assert TCP_DELEGATED.size == 0x80
assert dict((n, o) for n, o, _ in TCP_DELEGATED.fields())["SRtt"] == 0x38
assert dict((n, o) for n, o, _ in TCP_DELEGATED.fields())["SendDataHead"] == 0x60
assert dict((n, o) for n, o, _ in TCP_DELEGATED.fields())["DWnd"] == 0x78
assert NEIGHBOR_DELEGATED.size == 12 and PATH_DELEGATED.size == 8
