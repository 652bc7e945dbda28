"""The quick formal proofs (CSR port, SECDED, CRC-32C, a short DMA proof), their cover
runs, and their mutants, which must fail. The deep DMA proofs run in `make formal`."""

import random

import pytest

from chimney.formal import PROOFS
from chimney.formal.run import run_one, tools_present

pytestmark = pytest.mark.skipif(not tools_present(), reason="formal tools not installed (make test installs them)")

QUICK = [p for p in PROOFS if p.quick]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["proof", "cover"])
@pytest.mark.parametrize("proof", QUICK, ids=[p.name for p in QUICK])
def test_quick_proof(proof, mode, tmp_path):
    r = run_one(proof, mode=proof.mode if mode == "proof" else "cover", out=tmp_path, timeout=600)
    assert r["result"] == "pass", r["detail"]


MUTANTS = [(p, name) for p in QUICK for name in p.mutants]


@pytest.mark.parametrize("proof, mutant", MUTANTS, ids=[f"{p.name}-{n}" for p, n in MUTANTS])
def test_mutant_is_caught(proof, mutant, tmp_path):
    """Not vacuous: the deliberately broken variant fails the same properties."""
    r = run_one(proof, mode="bmc", depth=proof.mutant_depth or proof.depth, mutant=mutant, out=tmp_path,
                timeout=600)
    assert r["result"] == "fail", r
    assert any(d.startswith("violated:") for d in r["detail"]), r["detail"]


def test_every_deep_proof_has_a_mutant_and_a_reason():
    for p in PROOFS:
        assert p.mutants, p.name
        if p.mode == "bmc":
            assert p.why, p.name


def test_crc_accumulator_matches_crc32_iscsi_in_simulation():
    """Lockstep, cycle by cycle from reset: CrcAccumulator (clear, step, both) against the
    amaranth.lib.crc Processor, on random words (the formal proof covers the step itself)."""
    from amaranth.hdl import Module
    from amaranth.lib.crc import catalog
    from amaranth.sim import Simulator
    from chimney.rtl.crc import CrcAccumulator

    m = Module()
    m.submodules.acc = acc = CrcAccumulator()
    m.submodules.ref = ref = catalog.CRC32_ISCSI(data_width=64).create()
    rng = random.Random(13)
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def bench(ctx):
        for _ in range(300):
            clear, step, word = rng.random() < 0.1, rng.random() < 0.8, rng.getrandbits(64)
            for a, b, v in ((acc.clear, ref.start, clear), (acc.step, ref.valid, step), (acc.word, ref.data, word)):
                ctx.set(a, v)
                ctx.set(b, v)
            await ctx.tick()
            assert ctx.get(acc.crc) == ctx.get(ref.crc)
    sim.add_testbench(bench)
    sim.run()
