"""The list-entry check order in hardware: `chimney.contract.checks.ENTRY_CHECKS`, evaluated.

`evaluate_checks` turns the contract's table into one fail signal per check and a
priority pick of the first failing one; nothing here restates a check. The same
lambdas run on Python ints in the reference model.
"""

from types import SimpleNamespace

from amaranth.hdl import Signal, Const
from amaranth.lib import enum

from chimney.contract import ErrorCode
from chimney.contract.checks import ENTRY_CHECKS, FACTS, Outcome

__all__ = ["CheckOutcome", "evaluate_checks", "facts_namespace"]


class CheckOutcome(enum.Enum, shape=3):
    """The decide stage's verdict: PASS, or the Outcome of the first failing check."""
    PASS = 0
    REFUSE = 1
    META_LOST = 2
    FAILED_ROW = 3
    STATE_LOST = 4


_OUTCOME = {Outcome.REFUSE: CheckOutcome.REFUSE, Outcome.META_LOST: CheckOutcome.META_LOST,
            Outcome.FAILED_ROW: CheckOutcome.FAILED_ROW, Outcome.STATE_LOST: CheckOutcome.STATE_LOST}


def facts_namespace(**values):
    """An attribute namespace of Amaranth values for the checks; every name must be a FACT."""
    unknown = set(values) - set(FACTS)
    assert not unknown, f"not facts of chimney.contract.checks: {sorted(unknown)}"
    return SimpleNamespace(**values)


def evaluate_checks(m, facts, stage=None, *, name="chk"):
    """Combinational evaluation of ENTRY_CHECKS (only those of `stage` if given).

    Returns (outcome, code): a `CheckOutcome` signal (PASS when every check passes) and
    the refusal's ErrorCode (NONE unless the outcome is REFUSE). Each check's fail bit is
    a named signal (`<name>_<check>`), so a waveform shows which one fired."""
    checks = [c for c in ENTRY_CHECKS if stage is None or c.stage == stage]
    outcome = Signal(CheckOutcome, name=f"{name}_outcome")
    code = Signal(8, name=f"{name}_code")
    fails = []
    for c in checks:
        fail = Signal(name=f"{name}_{c.name}")
        skip = Const(0, 1)
        if c.trusts_poisoned:
            skip = facts.poisoned
        m.d.comb += fail.eq(c.applies(facts) & ~skip & ~c.ok(facts))
        fails.append((c, fail))
    # priority: the first failing check in table order decides (If/Elif keeps the order)
    first = True
    for c, fail in fails:
        cond = m.If(fail) if first else m.Elif(fail)
        with cond:
            m.d.comb += outcome.eq(_OUTCOME[c.outcome])
            if c.code is not None:
                m.d.comb += code.eq(int(c.code))
        first = False
    return outcome, code
