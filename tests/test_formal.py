"""The quick formal proofs (CSR port, SECDED, CRC-32C, a short DMA proof), their cover
runs, and their mutants, which must fail. The deep DMA proofs run in `make formal`."""

import os
import random

import pytest

from chimney.formal import PROOFS
from chimney.formal.run import abc_present, run_one, tools_present

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


@pytest.mark.skipif(not abc_present(), reason="berkeley-abc not installed (make formal installs it)")
def test_abc_engine_reports_a_failure(tmp_path):
    """The deep DMA proofs run on `abc bmc3`: that engine, through the same run_one, must
    report a broken variant as failed (its trace cannot be converted: see run.py)."""
    proof = PROOFS["dma_write_64"]
    assert proof.engine == "abc bmc3"
    r = run_one(proof, mode="bmc", depth=8, mutant="wlast_early", out=tmp_path, timeout=600, engine="abc bmc3")
    assert (r["result"], r["solver"]) == ("fail", "abc bmc3 (berkeley-abc)"), r
    r = run_one(proof, mode="bmc", depth=8, out=tmp_path, timeout=600, engine="abc bmc3")
    assert r["result"] == "pass", r


DEEP = [(p, name) for p in PROOFS if not p.quick for name in p.mutants]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CHIMNEY_FORMAL_DEEP"),
                    reason="the deep proofs' mutants take minutes each: CHIMNEY_FORMAL_DEEP=1 "
                           "(`make formal` runs them too and records each result in build/formal.json)")
@pytest.mark.parametrize("proof, mutant", DEEP, ids=[f"{p.name}-{n}" for p, n in DEEP])
def test_deep_mutant_is_caught(proof, mutant, tmp_path):
    """The deep proofs' mutants (engine_one_command, the DMA ports), the same check as
    test_mutant_is_caught."""
    r = run_one(proof, mode="bmc", depth=proof.mutant_depth or proof.depth, mutant=mutant, out=tmp_path,
                timeout=3600)
    assert r["result"] == "fail", r
    assert any(d.startswith("violated:") for d in r["detail"]), r["detail"]


@pytest.mark.parametrize("case", ["bad_opcode", "terminate_one"])
def test_engine_harness_in_simulation(case):
    """The engine-level harness (chimney/formal/engine.py) with concrete values in
    Amaranth's simulator: the completion comes within the proof's K, every assertion holds,
    and the cpl_twice / addr_shift wrappers are seen by the same checks (no solver)."""
    from amaranth.hdl import Fragment
    from amaranth.sim import Simulator
    from chimney.contract import COMMAND, LIST_ENTRY, Opcode
    from chimney.formal import engine as E

    desc = {"bad_opcode": dict(opcode=0x85, tag=9),
            "terminate_one": dict(opcode=Opcode.TERMINATE, tag=3, addr=0x4000, count=1)}[case]
    entry = dict(handle=(3 << 24) | 1, parent=0, req_cap=2, state_addr=0x5000, status_addr=0x6004,
                 req_addr=0x7000)
    for mutant in (None, "cpl_twice", "addr_shift"):
        h = E.EngineHarness(mutant, E.DEPTH, sim=True)
        sim = Simulator(Fragment.get(h, None))
        sim.add_clock(1e-8)
        seen = {"failed": set(), "k": None}

        async def bench(ctx):
            k = h.knobs
            for q, base in (("cmdq", 0x1000), ("cplq", 0x2000), ("evtq", 0x3000)):
                ctx.set(k[q + "_base"], base)
                ctx.set(k[q + "_log2"], 2)
            ctx.set(k["desc"], int.from_bytes(COMMAND.to_bytes(desc), "little"))
            ctx.set(k["entry0"], int.from_bytes(LIST_ENTRY.to_bytes(entry), "little"))
            for c in range(E.DEPTH + 20):
                await ctx.tick()
                seen["failed"] |= {msg for msg, f in h.failed.items() if ctx.get(f)}
                if seen["k"] is None and ctx.get(h.signals["cpl_beats"]) >= 2:
                    seen["k"] = c + 1
        sim.add_testbench(bench)
        sim.run()
        if mutant == "addr_shift":
            # every write 16 bytes up: the completion lands in slot 1, outside every window
            assert "host write outside every named window" in seen["failed"], seen
            continue
        assert seen["k"] is not None and seen["k"] < E.DEPTH, seen
        if mutant is None:
            assert not seen["failed"], seen
        else:
            assert seen["failed"], (mutant, seen)
