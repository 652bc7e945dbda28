"""Small building blocks for the harnesses: registered copies, the handshake rules of
AXI (A3.2.1: once VALID is high it stays high until the handshake, and the payload is
stable meanwhile) as assertions on one side of a port or assumptions on the other."""

from amaranth.hdl import Assert, Assume, Cat, Module, Signal, Value
from amaranth.hdl._ast import AnyConst, AnySeq  # noqa: F401 (re-exported for the harnesses)


def past(m: Module, value, name):
    """`value` one cycle ago (0 in the first cycle; use `started` to tell)."""
    value = Value.cast(value)
    reg = Signal(len(value), name=name)
    m.d.sync += reg.eq(value)
    return reg


def started(m: Module):
    """1 from the second cycle on: `past` values mean something."""
    s = Signal(name="started")
    m.d.sync += s.eq(1)
    return s


def free(m: Module, width, name):
    """A signal the solver may set to anything in every cycle."""
    s = Signal(width, name=name)
    m.d.comb += s.eq(AnySeq(width))
    return s


def handshake_hold(m: Module, check, go, channel, valid, ready, payload, *, unless=None):
    """VALID held until READY and payload stable while waiting (`check` is Assert or
    Assume). `unless` (a 1-bit value this cycle) lifts the rule in that cycle."""
    payload = Cat(*payload) if isinstance(payload, (list, tuple)) else Value.cast(payload)
    pv = past(m, valid, f"{channel}_pvalid")
    pr = past(m, ready, f"{channel}_pready")
    pp = past(m, payload, f"{channel}_ppayload")
    cond = go & pv & ~pr
    if unless is not None:
        cond = cond & ~unless
    with m.If(cond):
        m.d.comb += [check(valid, f"{channel}: VALID dropped before READY"),
                     check(payload == pp, f"{channel}: payload changed while VALID and not READY")]
