"""The list-entry check table (chimney.contract.checks): its Python and hardware evaluations
agree, each check decides alone and in priority order, and the disposition rule matches
the NDIS completion statuses."""

import os
import random
from types import SimpleNamespace

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from chimney.contract import (ALIGN, Disposition, EngineParams, ErrorCode, NdisStatus, ObjType,
                              ReqKind, interface_text)
from chimney.contract.checks import (DISPOSITIONS, ENTRY_CHECKS, FACTS, Outcome, first_failing,
                                     record_disposition)
from chimney.rtl.decide import CheckOutcome, evaluate_checks, facts_namespace

P = EngineParams()
WIDTHS = {"terminate": 1, "type": 2, "index": 16, "gen": 8, "rsvd": 6, "depth": 17, "status_addr": 64,
          "state_addr": 64, "req_addr": 64, "status_win": 1, "state_win": 1, "req_win": 1, "parent": 16, "req_cap": 15, "cmd_tag": 32, "meta_lost": 1,
          "valid": 1, "failed": 1, "poisoned": 1, "row_gen": 8, "row_parent": 16, "refcount": 17,
          "req_count": 16, "freed_tag": 32, "state_lost": 1}


def healthy_facts(**over):
    """A TCP TERMINATE entry that passes every check."""
    f = dict(terminate=1, type=int(ObjType.TCP), index=5, gen=7, rsvd=0, depth=P.n_tcp,
             status_addr=0x1000, state_addr=0x2000, req_addr=0x3000, status_win=1, state_win=1, req_win=1, parent=2, req_cap=4, cmd_tag=9,
             meta_lost=0, valid=1, failed=0, poisoned=0, row_gen=7, row_parent=2, refcount=0,
             req_count=3, freed_tag=0, state_lost=0)
    f.update(over)
    return SimpleNamespace(**f)


def test_every_fact_has_a_width_and_a_stage():
    assert set(WIDTHS) == set(FACTS)
    assert {stage for stage, _ in FACTS.values()} == {"entry", "row"}


def test_healthy_entry_passes():
    assert first_failing(healthy_facts()) is None


# (facts to change, the check that must decide) -- each written from the contract's prose
CASES = [
    (dict(type=0), "handle"), (dict(rsvd=1), "handle"), (dict(index=P.n_tcp), "handle"),
    (dict(status_addr=0), "status_addr"), (dict(status_addr=0x1002), "status_addr"),
    (dict(state_addr=0x2004), "state_addr"), (dict(req_addr=0), "req_addr"),
    # outside the DMA windows (EntryWindows' bits): the same checks
    (dict(status_win=0), "status_addr"), (dict(state_win=0), "state_addr"), (dict(req_win=0), "req_addr"),
    (dict(status_win=0, type=0), "handle"), (dict(state_win=0, status_win=0), "status_addr"),
    (dict(meta_lost=1, valid=0), "meta_word"),
    (dict(valid=0, row_gen=8, freed_tag=9), "duplicate"),
    (dict(valid=0, row_gen=8, freed_tag=8), "offloaded"),
    (dict(valid=0, row_gen=9, freed_tag=9), "offloaded"),
    (dict(row_gen=6), "generation"), (dict(row_parent=3), "parent"),
    (dict(req_count=5), "capacity"), (dict(type=int(ObjType.PATH), depth=P.n_path, refcount=1), "order"), (dict(failed=1), "healthy"), (dict(state_lost=1), "intact"),
    # a poisoned row trusts the entry: generation, parent and capacity are not checked
    (dict(poisoned=1, row_gen=1, row_parent=0, req_count=99), "healthy"),
    # an earlier check wins over a later one
    (dict(type=0, status_addr=0), "handle"), (dict(status_addr=0, meta_lost=1), "status_addr"),
    (dict(meta_lost=1, row_gen=6), "meta_word"), (dict(row_gen=6, row_parent=3), "generation"),
    (dict(row_parent=3, failed=1), "parent"), (dict(failed=1, state_lost=1), "healthy"),
]


@pytest.mark.parametrize("over,want", CASES, ids=[f"{w}-{i}" for i, (_, w) in enumerate(CASES)])
def test_one_check_decides(over, want):
    got = first_failing(healthy_facts(**over))
    assert got is not None and got.name == want


def test_check_scope_by_command_and_type():
    # QUERY: no req_addr, duplicate, order or capacity check
    q = healthy_facts(terminate=0, req_addr=0, req_win=0, req_count=9)
    assert first_failing(q) is None
    # a path: no state_addr; TERMINATE of a path with dependents is ORDER
    path = healthy_facts(type=int(ObjType.PATH), depth=P.n_path, state_addr=0, state_win=0, refcount=1)
    assert first_failing(path).code == ErrorCode.ORDER
    # a neighbor has no parent
    nb = healthy_facts(type=int(ObjType.NEIGHBOR), depth=P.n_neighbor, row_parent=7, parent=0)
    assert first_failing(nb) is None


def test_alignment_rule_matches_contract_alignments():
    for name in ("status_addr", "state_addr", "req_addr"):
        win = name.replace("_addr", "_win")
        c = next(c for c in ENTRY_CHECKS if c.name == name)
        for addr in (ALIGN[name], 3 * ALIGN[name], 0x10000):
            assert c.ok(SimpleNamespace(**{name: addr, win: 1}))
            assert not c.ok(SimpleNamespace(**{name: addr, win: 0}))
        for addr in (0, ALIGN[name] // 2, ALIGN[name] + 1):
            assert not c.ok(SimpleNamespace(**{name: addr, win: 1}))


def _random_facts(rng):
    f = healthy_facts()
    for name in rng.sample(sorted(FACTS), rng.randint(1, 4)):
        w = WIDTHS[name]
        # small values collide with the healthy ones often enough to reach every check
        setattr(f, name, rng.choice([rng.getrandbits(w), rng.randint(0, 3), getattr(f, name) + 1])
                & ((1 << w) - 1))
    return f


def test_rtl_evaluation_matches_python(pytestconfig=None):
    """evaluate_checks (the decide stage's logic) against first_failing on random facts."""
    seed = int(os.environ.get("CHECKS_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (CHECKS_SEED={seed} repeats it)")
    rng = random.Random(seed)
    m = Module()
    sigs = {name: Signal(w, name=f"f_{name}") for name, w in WIDTHS.items()}
    outcome, code = evaluate_checks(m, facts_namespace(**sigs))
    cases = [healthy_facts(**over) for over, _ in CASES] + [_random_facts(rng) for _ in range(400)]
    seen = set()

    async def bench(ctx):
        for f in cases:
            for name, sig in sigs.items():
                ctx.set(sig, getattr(f, name))
            want = first_failing(f)
            got_outcome = CheckOutcome(ctx.get(outcome))
            if want is None:
                assert got_outcome == CheckOutcome.PASS, vars(f)
            else:
                assert got_outcome.name == want.outcome.name, (vars(f), want.name)
                assert ctx.get(code) == int(want.code or 0), (vars(f), want.name)
            seen.add(want.name if want else None)
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen >= {c.name for c in ENTRY_CHECKS} | {None}, f"checks never decided: {seen}"


def test_disposition_rule_matches_ndis():
    # NDIS (ndis-terminate.md): requests of a failed offload complete REQUEST_ABORTED;
    # otherwise sends go back to the stack and receives complete UPLOAD_IN_PROGRESS
    for kind in ReqKind:
        assert record_disposition(kind, True).ndis_status() == NdisStatus.REQUEST_ABORTED
    assert record_disposition(ReqKind.SEND, False) == Disposition.RETURNED
    assert record_disposition(ReqKind.RECV, False).ndis_status() == NdisStatus.UPLOAD_IN_PROGRESS
    assert len(DISPOSITIONS) == 2 * len(ReqKind)


def test_interface_doc_lists_the_table_in_order():
    text = interface_text.SECTIONS
    at = [text.index(c.doc) for c in ENTRY_CHECKS]
    assert at == sorted(at)
    assert all(c.outcome is Outcome.REFUSE or c.code is None for c in ENTRY_CHECKS)
