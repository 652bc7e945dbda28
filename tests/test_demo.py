"""`make demo` reads like a story: the host stack's log, the JSON path and a verdict on the
terminal; the simulator's own output in a file under build/."""

import re
import subprocess
import sys


def test_demo_keeps_the_simulator_log_off_the_terminal():
    proc = subprocess.run([sys.executable, "-m", "chimney.tb.demo", "--sim", "icarus"],
                          capture_output=True, text=True, timeout=1200)
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-4000:]
    assert "What the host stack saw" in out and "build/demo.json: {" in out
    assert "indicate_event" in out and "exactly as NDIS requires" in out
    assert not re.search(r"\bINFO\b|cocotb\.|gpi|VPI|Running command", out), out[:3000]
    log = re.search(r"goes to (\S+-sim\.log)", out)
    assert log, out[:500]
    text = open(log.group(1)).read()
    assert "cocotb" in text and "PASS" in text          # the simulator's output went there instead
