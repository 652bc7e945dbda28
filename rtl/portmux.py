"""Sharing the state tables' engine port between the engine's stages.

Each stage that touches the tables has its own `tables_signature` bundle. Only one stage
drives a given memory in a given cycle (they hand work to each other; they never race
for a row), so the merge is an AND-OR: each request field is ORed over the clients,
gated by that client's enable. No priority logic, no decode of which stage is active;
read responses go back to every client, and each one counts only what it asked for.
"""

from amaranth.hdl import Cat, Signal

from .tables import tables_signature

__all__ = ["merge_table_clients"]

_REQ = (("rd_en", "rd_addr", ()), ("wr_en", "wr_addr", ("wr_data",)))
_RESP = ("rd_valid", "rd_data", "rd_ce", "rd_ue")


def merge_table_clients(m, params, target, clients):
    """Drive `target` (an engine-side `tables_signature` interface, e.g. the engine's own
    port) from `clients` (interfaces of the same signature), and fan the responses out."""
    for name in tables_signature(params).members:
        port = getattr(target, name)
        parts = [getattr(c, name) for c in clients]
        for en, addr, extra in _REQ:
            m.d.comb += getattr(port, en).eq(Cat(*(getattr(p, en) for p in parts)).any())
            for field in (addr, *extra):
                width = len(getattr(port, field))
                acc = 0
                for p in parts:
                    gate = getattr(p, en).replicate(width)
                    acc = acc | (getattr(p, field) & gate)
                merged = Signal(width, name=f"{name}_{field}_merged")
                m.d.comb += [merged.eq(acc), getattr(port, field).eq(merged)]
        for p in parts:
            for field in _RESP:
                m.d.comb += getattr(p, field).eq(getattr(port, field))
