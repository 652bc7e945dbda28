"""A guarded FSM: a check register that follows the state register, so an upset of the
state register (a particle strike, a fault campaign's deposit) is seen in the next cycle.

    guard = StateGuard(m, "offload")
    with m.FSM(name="offload") as fsm:
        with m.State("IDLE"):              # the initial state must be encoded 0
            ...
            guard.m.next = "RUN"           # (or: states written against guard.m)
    upset = guard.seal(fsm)

Every transition made through `guard.m` also loads the check register with the
complement of the target state's encoding. The complement (not a copy) keeps synthesis
from merging the two registers, and the compare is a few XORs, not a decode of every
state. Each FSM that can write state tables or host memory has one; the owner freezes
its outputs while `upset` is high (and the engine halts with ERR_STATUS.INTERNAL).
"""

from amaranth.hdl import Cat, Const, Signal

__all__ = ["StateGuard"]


class StateGuard:
    WIDTH = 8

    def __init__(self, m, name):
        self._real = m
        self.codes = {}
        self.name = name
        self.reg = Signal(self.WIDTH, init=(1 << self.WIDTH) - 1, name=f"{name}_state_check")
        self.m = _Checked(m, self)
        self.flags = {}

    def in_state(self, state):
        """A register that is 1 exactly while the FSM is in `state` (not the initial one),
        loaded on every transition made through `guard.m`: an FSM output that would
        otherwise be a state decode, for paths that must start at a flop."""
        if state not in self.flags:
            self.flags[state] = Signal(name=f"{self.name}_in_{state.lower()}")
        return self.flags[state]

    def code(self, state):
        """The check value for `state`: a signal `seal` drives with ~encoding once the FSM
        is built (a constant to synthesis)."""
        if state not in self.codes:
            self.codes[state] = Signal(self.WIDTH, name=f"{self.name}_check_{state.lower()}")
        return self.codes[state]

    def seal(self, fsm, initial="IDLE"):
        """Drive the codes from `fsm`'s encoding; return the `upset` signal (comb)."""
        m = self._real
        assert fsm.encoding[initial] == 0 and len(fsm.state) <= self.WIDTH, (self.name, len(fsm.state))
        for state, code in fsm.encoding.items():
            m.d.comb += self.code(state).eq(~Const(code, self.WIDTH))
        upset = Signal(name=f"{self.name}_upset")
        m.d.comb += upset.eq((Cat(fsm.state, Const(0, self.WIDTH - len(fsm.state))) ^ self.reg)
                             != (1 << self.WIDTH) - 1)
        return upset


class _Checked:
    """Stands in for the Module while the FSM is built: `next = name` also loads the
    check register with that state's code."""

    def __init__(self, m, guard):
        object.__setattr__(self, "_m", m)
        object.__setattr__(self, "_guard", guard)

    def __getattr__(self, name):
        return getattr(self._m, name)

    def __setattr__(self, name, value):
        if name == "next":
            self._m.next = value
            self._m.d.sync += self._guard.reg.eq(self._guard.code(value))
            for state, flag in self._guard.flags.items():
                self._m.d.sync += flag.eq(value == state)
        else:
            setattr(self._m, name, value)
