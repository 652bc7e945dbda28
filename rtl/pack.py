"""Contract layouts as Amaranth expressions, and the table names the RTL uses."""

from amaranth.hdl import Cat, Const, Value

from chimney.contract import ObjType, data_words

__all__ = ["pack", "u64", "TYPE_NAME", "row_base", "or_all", "offer"]

#: the prefix of each object type's memories (`tcp_data`, `path_meta`, ...)
TYPE_NAME = {ObjType.NEIGHBOR: "neighbor", ObjType.PATH: "path", ObjType.TCP: "tcp"}


def pack(layout, **fields):
    """A contract `Layout` as one Amaranth expression: named fields set, everything else zero.

    Expressions rather than partially assigned signals keep constant bits out of
    `always @*` blocks in the Verilog (which Icarus would never run)."""
    leaves = {name: (off, width) for name, off, width, _ in layout.flat()}
    parts, at = [], 0
    for name, value in sorted(fields.items(), key=lambda nv: leaves[nv[0]][0]):
        off, width = leaves[name]
        assert off >= at, f"{layout.name}.{name} overlaps another field"
        value = Value.cast(value)
        if off > at:
            parts.append(Const(0, off - at))
        parts.append(value[:width] if len(value) >= width else Cat(value, Const(0, width - len(value))))
        at = off + width
    if at < layout.width:
        parts.append(Const(0, layout.width - at))
    return Cat(*parts)


def u64(value):
    """Zero-extend to a 64-bit word (the host handle enters the row CRC this way)."""
    value = Value.cast(value)
    return Cat(value, Const(0, 64 - len(value)))


def row_base(obj_type, row):
    """The address of row `row`'s first data word in its table's data memory:
    row x data_words(obj_type) as shifts and adds (no multiplier in an address path)."""
    n = data_words(obj_type)
    terms = [Value.cast(row) << b for b in range(n.bit_length()) if n >> b & 1]
    expr = terms[0]
    for term in terms[1:]:
        expr = expr + term
    return expr


def or_all(values):
    """The OR of a list of values: with each value ANDed with its one-hot select bit, a
    multiplexer without a decode (a tree of ORs, no priority chain)."""
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


def offer(m, port, **fields):
    """Drive `port` (a stream this module sources) valid with the payload fields given
    (the rest 0) in the current control context; returns `port.ready`."""
    m.d.comb += port.valid.eq(1)
    for name, value in fields.items():
        m.d.comb += getattr(port.payload, name).eq(value)
    return port.ready
