"""CTRL.RESET in the middle of every command type (tests/scenarios/reset.py) through
cocotb, on every selected simulator, twelve resets a run. Prints its seed;
CHIMNEY_SEED=<n> or =random as for the Amaranth runs."""

from chimney.tb import simbuild
from scenarios.diff import seed_from_env


def test_reset_mid_command(sim):
    seed = seed_from_env(1711)
    print(f"reset mid-command on {sim}: CHIMNEY_SEED={seed}")
    assert simbuild.run(sim, "cocotb_reset", extra_env={"CHIMNEY_SEED": str(seed)}) == 1
