"""The board self-test without the board: the whole board design (UART bridge,
interconnect, host memory, engine; small tables) simulated on Verilator with its UART
pins driven bit by bit (tests/cocotb/cocotb_board.py), and `chimney board` talking to
it through the unchanged serial backend over a socket (`socket://127.0.0.1:PORT`,
which pyserial opens like a serial port). The self-test must pass: NOP, offload,
posts, query, terminates, the ERRINJ double flip and the failure sequence, scoreboarded
by the reference model. Also: the full-size board design elaborates.
"""

import json
import threading
import time

import pytest

from chimney.contract import EngineParams
from chimney.tb import simbuild

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=64)


@pytest.mark.cocotb
def test_board_self_test_over_the_simulated_uart(tmp_path, request):
    if request.config.getoption("--sim") not in ("all", "verilator"):
        pytest.skip("the board runs on Verilator (--sim all or verilator)")
    from chimney.board import main
    port_file = tmp_path / "port"
    result = {}

    def host():
        deadline = time.monotonic() + 900                  # the first build takes minutes
        while not port_file.exists():
            if time.monotonic() > deadline:
                result["error"] = "the simulated board never listened"
                return
            time.sleep(0.2)
        try:
            result["code"] = main(["--port", f"socket://127.0.0.1:{port_file.read_text()}", "--resync", "0.05",
                                   "--timeout", "60", "--json", str(tmp_path / "report.json")])
        except Exception as e:                              # the simulation then ends by max_cycles
            result["error"] = f"{type(e).__name__}: {e}"

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    simbuild.run("verilator", "cocotb_board", params=SMALL, top=simbuild.BOARD, test_dir=tmp_path / "sim",
                 log_dir=tmp_path, extra_env={"CHIMNEY_BOARD": json.dumps({"port_file": str(port_file),
                                                                          "max_cycles": 40_000_000})})
    thread.join(timeout=60)
    assert "error" not in result, result
    report = json.loads((tmp_path / "report.json").read_text())
    assert result["code"] == 0 and report["passed"], report
    assert report["offloaded"] == 6 and report["failure_sequence_ok"] and report["scoreboard_mismatches"] == 0


def test_full_size_board_design_elaborates():
    from amaranth.back import rtlil
    from chimney.boards.core import BoardCore
    text = rtlil.convert(BoardCore(EngineParams()), name="chimney_board")
    assert "uart_rx" in text and "uart_tx" in text
