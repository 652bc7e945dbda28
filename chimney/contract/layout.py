"""A tiny bit-layout language: the one place where every packed structure is described.

A `Layout` is an ordered list of fields packed little-endian from bit 0 (the same
convention as Amaranth's `lib.data.StructLayout`). Variant parts (a word that means
different things in different row states) are `Union`s of layouts. From one
description we get Python pack/unpack for the driver and the reference model,
an Amaranth layout for the RTL, and the tables in the generated documents.
This module does not import Amaranth unless `.amaranth()` is called.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    width: int
    doc: str = ""


class Layout:
    """Fields packed from bit 0 upwards; `size` pads the layout to a fixed width."""

    def __init__(self, name, fields, *, size=None, doc=""):
        self.name = name
        self.doc = doc
        self.members = []          # (name, offset, member) with member a Field or Union
        offset = 0
        seen = set()
        for member in fields:
            if member.name in seen:
                raise ValueError(f"{name}: duplicate field {member.name}")
            seen.add(member.name)
            self.members.append((member.name, offset, member))
            offset += member.width
        self.used = offset
        self.width = offset if size is None else size
        if self.width < offset:
            raise ValueError(f"{name}: fields need {offset} bits, size is {size}")

    # --- introspection -------------------------------------------------
    def __iter__(self):
        return iter(self.members)

    def __contains__(self, name):
        return any(n == name for n, _, _ in self.members)

    def offset(self, name):
        for n, off, _ in self.members:
            if n == name:
                return off
        raise KeyError(f"{self.name} has no field {name}")

    def field(self, name):
        for n, _, m in self.members:
            if n == name:
                return m
        raise KeyError(f"{self.name} has no field {name}")

    def flat(self, prefix="", base=0):
        """Yield (dotted_name, bit_offset, width, doc) for every leaf field."""
        for n, off, m in self.members:
            if isinstance(m, Union):
                for vname, v in m.variants.items():
                    yield from v.flat(f"{prefix}{n}.{vname}.", base + off)
            else:
                yield (prefix + n, base + off, m.width, m.doc)

    # --- Python packing --------------------------------------------------
    def pack(self, values=None, **kw):
        """Pack a dict of field values (unions: {'u': ('live', {...})}) into an int."""
        values = dict(values or {}, **kw)
        word = 0
        for n, off, m in self.members:
            if n not in values:
                continue
            v = values.pop(n)
            if isinstance(m, Union):
                vname, vvals = v
                word |= m.variants[vname].pack(vvals) << off
                continue
            v = int(v)
            if v < 0 or v >> m.width:
                raise ValueError(f"{self.name}.{n}={v:#x} does not fit {m.width} bits")
            word |= v << off
        if values:
            raise KeyError(f"{self.name} has no fields {sorted(values)}")
        return word

    def unpack(self, word, *, variant=None):
        """Unpack an int; `variant` maps a union field name to the variant to decode."""
        out = {}
        for n, off, m in self.members:
            if isinstance(m, Union):
                vname = (variant or {}).get(n)
                if vname is not None:
                    v = m.variants[vname]
                    out[n] = (vname, v.unpack((word >> off) & ((1 << m.width) - 1)))
                continue
            out[n] = (word >> off) & ((1 << m.width) - 1)
        return out

    def to_bytes(self, values=None, **kw):
        assert self.width % 8 == 0, self.name
        return self.pack(values, **kw).to_bytes(self.width // 8, "little")

    def from_bytes(self, data, **kw):
        return self.unpack(int.from_bytes(bytes(data), "little"), **kw)

    # --- Amaranth --------------------------------------------------------
    def amaranth(self):
        from amaranth.lib import data
        fields = {}
        for n, _, m in self.members:
            fields[n] = m.amaranth() if isinstance(m, Union) else m.width
        if self.width > self.used:
            fields["_pad"] = self.width - self.used
        return data.StructLayout(fields)


class Union:
    """Variants that share the same bits; its width is the widest variant."""

    def __init__(self, name, variants, doc=""):
        self.name = name
        self.doc = doc
        self.variants = dict(variants)
        self.width = max(v.width for v in self.variants.values())

    def amaranth(self):
        from amaranth.lib import data
        return data.UnionLayout({k: v.amaranth() for k, v in self.variants.items()})


def bits_for(n):
    """Bits needed to hold the values 0 .. n-1 (at least 1)."""
    return max(1, (n - 1).bit_length())


def reserved(name, width):
    return Field(name, width, "reserved, zero")
