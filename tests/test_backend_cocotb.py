"""The backend's lean AXI4-Lite manager (chimney.tb.backend.AxiLiteManager) drives the
CSR port pin for pin as cocotbext-axi's AxiLiteMaster does: the same traffic with each,
every port of the top compared cycle by cycle (tests/cocotb/cocotb_backend.py)."""

import json

from chimney.tb import simbuild


def _trace(sim, manager, tmp_path):
    out = tmp_path / f"{sim}-{manager}.json"
    simbuild.run(sim, "cocotb_backend", "pin_trace", test_dir=tmp_path / f"run-{manager}",
                 extra_env={"CHIMNEY_CSR_MASTER": manager, "CHIMNEY_TRACE_OUT": str(out)})
    return json.loads(out.read_text())


def test_lean_manager_matches_cocotbext(sim, tmp_path):
    ref = _trace(sim, "cocotbext", tmp_path)
    lean = _trace(sim, "lean", tmp_path)
    assert ref["events"] == lean["events"]
    names = ref["trace"][0]
    assert lean["trace"][0] == names and any(n.endswith("arvalid") for n in names)
    assert len(ref["trace"]) > 1000, "the traffic reached the pins"
    for a, b in zip(ref["trace"][1:], lean["trace"][1:]):
        if a != b:
            diff = [(n, x, y) for n, x, y in zip(names, a[1], b[1]) if x != y]
            raise AssertionError(f"first difference: cycle {a[0]} (cocotbext) / {b[0]} (lean): {diff[:8]}")
    assert len(ref["trace"]) == len(lean["trace"])


def test_monitor_callback_ends_with_its_test(sim):
    """The AXI monitors sample from a simulator callback (chimney.tb.axi_monitor): it runs
    at every edge of its test and stops with it."""
    assert simbuild.run(sim, "cocotb_backend", ["monitors_sample_during_their_test",
                                                "monitors_stop_after_their_test"]) == 2
