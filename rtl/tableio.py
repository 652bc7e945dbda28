"""Table-port helpers for one client of the state tables (a `tables_signature` bundle).

The engine and each command flow own such a bundle (rtl/portmux.py merges them). These
helpers address a table by a type held in a signal, gather the read responses of
the meta and ident memories, and read or build meta words by field name for
whichever table the type names. Everything is combinational, in the caller's module.
"""

from amaranth.hdl import Cat, Const, Signal, Value
from amaranth.lib import data

from chimney.contract import ObjType, data_words, meta_layout, pool_layout
from chimney.contract.rows import GEN_BITS

from .pack import TYPE_NAME, row_base
from .tables import tables_signature

__all__ = ["TableIO", "meta_field", "meta_field_width"]


def _meta_values(params, raw, path):
    values = {}
    for t in ObjType:
        view = data.View(meta_layout(params, t).amaranth(), raw)
        try:
            value = view
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        values[t] = value.as_value() if hasattr(value, "as_value") else Value.cast(value)
    return values


def meta_field_width(params, path):
    """The width `meta_field` gives `path`: the widest table's."""
    return max(len(v) for v in _meta_values(params, Const(0, 64), path).values())


def meta_field(m, params, raw, t_sig, path):
    """A meta field by dotted path for whichever table `t_sig` names (0 where absent)."""
    values = _meta_values(params, raw, path)
    # FIX (differential test): as wide as the widest table's field. It took the width
    # of the first table having the field, so a TCP row's `parent` (path_bits) was cut
    # to neighbor_bits and a path's `refcount` to the neighbor's refcount width: PARENT
    # refusals for paths >= n_neighbor, wrong ORDER checks and lost decrements.
    out = Signal(max(len(v) for v in values.values()), name="m_" + path.replace(".", "_"))
    for t, value in values.items():
        with m.If(t_sig == t):
            m.d.comb += out.eq(value)
    return out

KINDS = ("ident", "meta")        # the memories whose responses `rv` gathers


class TableIO:
    def __init__(self, m, params, bundle):
        self.m, self.p = m, params
        self.ports = {name: getattr(bundle, name) for name in tables_signature(params).members}
        self.metas = {t: meta_layout(params, t) for t in ObjType}
        self.pool_lay = pool_layout(params)
        self.pool = self.ports["req_pool"]
        #: {kind: (valid, data, ue)}: the read response of whichever table answers
        self.rv = {}
        for kind in KINDS:
            valid, dat, ue = Signal(name=f"{kind}_rv"), Signal(64, name=f"{kind}_rd"), Signal(name=f"{kind}_rue")
            for t in ObjType:
                pt = self.port(t, kind)
                with m.If(pt.rd_valid):
                    m.d.comb += [valid.eq(1), dat.eq(pt.rd_data), ue.eq(pt.rd_ue)]
            self.rv[kind] = (valid, dat, ue)

    def port(self, t, kind):
        return self.ports[f"{TYPE_NAME[ObjType(t)]}_{kind}"]

    def read(self, t_sig, kind, addr):
        for t in ObjType:
            with self.m.If(t_sig == t):
                pt = self.port(t, kind)
                self.m.d.comb += [pt.rd_en.eq(1), pt.rd_addr.eq(addr)]

    def write(self, t_sig, kind, addr, value):
        for t in ObjType:
            with self.m.If(t_sig == t):
                pt = self.port(t, kind)
                self.m.d.comb += [pt.wr_en.eq(1), pt.wr_addr.eq(addr), pt.wr_data.eq(value)]

    def row_base(self, t_sig, row):
        """The first data word of row `row` of table `t_sig` (rtl/pack.row_base)."""
        base = Signal(24, name="row_base")
        for t in ObjType:
            with self.m.If(t_sig == t):
                self.m.d.comb += base.eq(row_base(t, row))
        return base

    def depth_of(self, t_sig):
        depth = Signal(17, name="depth")
        for t in ObjType:
            with self.m.If(t_sig == t):
                self.m.d.comb += depth.eq(self.p.depth(t))
        return depth

    def dwords(self, t_sig):
        n = Signal(8, name="dwords")
        for t in ObjType:
            with self.m.If(t_sig == t):
                self.m.d.comb += n.eq(data_words(t))
        return n

    def mfield(self, raw, t_sig, path):
        """A meta field by dotted path for whichever table `t_sig` names (0 where absent)."""
        return meta_field(self.m, self.p, raw, t_sig, path)

    def meta_value(self, t_sig, **fields):
        """A meta word for table `t_sig` with the given fields (dotted names), others zero.

        Built as one expression per table (no partial assignments), so the Verilog is
        plain `assign`s."""
        options = {}
        for t in ObjType:
            leaves = {name: (off, width) for name, off, width, _ in self.metas[t].flat()}
            parts, at = [], 0
            for name, value in sorted(((n, v) for n, v in fields.items() if n in leaves),
                                      key=lambda nv: leaves[nv[0]][0]):
                off, width = leaves[name]
                if off > at:
                    parts.append(Const(0, off - at))
                parts.append(Value.cast(value)[:width] if len(Value.cast(value)) >= width
                             else Cat(value, Const(0, width - len(Value.cast(value)))))
                at = off + width
            if at < 64:
                parts.append(Const(0, 64 - at))
            options[t] = Cat(*parts)
        out = Signal(64, name="meta_new")
        with self.m.Switch(t_sig):
            for t, value in options.items():
                with self.m.Case(t):
                    self.m.d.comb += out.eq(value)
        return out

    def with_refcount(self, raw, t_sig, change):
        """`raw`, the meta word of a neighbor or path (the tables that have children),
        with its live refcount replaced by `change(refcount)` (or + `change` when an int)."""
        upd = Signal(64, name="refcount_upd")
        self.m.d.comb += upd.eq(raw)
        for t in (ObjType.NEIGHBOR, ObjType.PATH):
            lay = self.metas[t]
            live = lay.field("u").variants["live"]
            off = lay.offset("u") + live.offset("refcount")
            w = live.field("refcount").width
            old = raw[off:off + w]
            with self.m.If(t_sig == t):
                self.m.d.comb += upd[off:off + w].eq(old + change if isinstance(change, int) else change(old))
        return upd

    @staticmethod
    def handle(t, idx, gen):
        """A HANDLE value: index, generation, type."""
        return Cat(idx[:16], gen[:GEN_BITS], t[:2], Const(0, 6))
