"""pytest options shared by every test: which HDL simulators to run cocotb tests on."""

import os

import pytest

SIMULATORS = ("icarus", "verilator")


def pytest_addoption(parser):
    parser.addoption("--sim", default=os.environ.get("SIM", "all"),
                     choices=("icarus", "verilator", "all", "none"),
                     help="HDL simulator(s) for cocotb tests (default: all, or $SIM)")


def pytest_generate_tests(metafunc):
    if "sim" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--sim")
        sims = {"all": SIMULATORS, "none": ()}.get(choice, (choice,))
        metafunc.parametrize("sim", [pytest.param(s, marks=pytest.mark.cocotb) for s in sims])
