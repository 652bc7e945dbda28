"""The cocotb protocol monitors fail a test at the first violation (both simulators)."""

import pytest

from chimney.tb import simbuild


def test_monitor_fails_the_cocotb_test(sim):
    with pytest.raises(simbuild.CocotbFailure) as e:
        simbuild.run(sim, "cocotb_monitor")
    text = str(e.value)
    assert "AXI protocol violation on csr" in text and "'VALID held until READY' on channel AW" in text, text
