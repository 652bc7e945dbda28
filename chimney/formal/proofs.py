"""The list of proofs: which harness, which mode, how deep, and why."""

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Proof:
    name: str
    build: Callable             # build(mutant=None) -> harness (Elaboratable with .ports after elaborate)
    mode: str                   # "prove" (k-induction) or "bmc"
    depth: int                  # induction length (prove) or cycles (bmc)
    cover_depth: int            # cycles for the cover run
    mutants: dict = field(default_factory=dict)
    quick: bool = False         # part of `make test`
    why: str = ""               # for bmc: why not k-induction
    mutant_depth: int = 0       # bmc depth for the mutants (0: same as depth)
    engine: str = "smtbmc"      # the main run's engine: "smtbmc" (yices) or "abc bmc3"
    cost: int = 0               # measured seconds (main run, cover, mutants): `--jobs` starts the longest first
    timeout: int = 1800         # seconds for any one run of this proof before it counts as "timeout"


def _csr(params_kw=None):
    def build(mutant=None):
        from chimney.contract import EngineParams
        from .csr import CsrPortHarness
        return CsrPortHarness(EngineParams(**(params_kw or {})), mutant)
    return build


def _proofs():
    from . import csr
    out = [
        Proof("csr_port", _csr(), "prove", 3, 8, csr.MUTANTS, quick=True, mutant_depth=6),
    ]
    try:
        from . import codec
        out += codec.proofs(Proof)
    except ImportError:
        pass
    try:
        from . import dma
        out += dma.proofs(Proof)
    except ImportError:
        pass
    try:
        from . import engine
        out += engine.proofs(Proof)
    except ImportError:
        pass
    return out


class _Lazy:
    def __init__(self):
        self._items = None

    def _load(self):
        if self._items is None:
            self._items = _proofs()
        return self._items

    def __iter__(self):
        return iter(self._load())

    def __getitem__(self, name):
        for p in self._load():
            if p.name == name:
                return p
        raise KeyError(name)

    def names(self):
        return [p.name for p in self._load()]


PROOFS = _Lazy()
