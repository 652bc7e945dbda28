"""chimney.core under FuseSoC, from a temporary library holding only the core and the
files it names: the generator runs `chimney generate`, then Verilator lints the wrapper
and Icarus runs the plain NOP testbench."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chimney.tb.simbuild import verilator_env

ROOT = Path(__file__).resolve().parent.parent
CORE = "chimney:offload:chimney_engine"
#: what chimney.core names, relative to it: the library gets these and nothing else
CORE_FILES = ("chimney.core", "fusesoc/chimney_generate.py", "tb/hdl/chimney_nop_tb.v")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    lib = tmp_path_factory.mktemp("fusesoc-lib") / "chimney"
    for rel in CORE_FILES:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, lib / rel)
    return lib


def _fusesoc(library, work, target):
    root = verilator_env()
    home = work / "home"
    env = dict(os.environ,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), str(root / "bin"), os.environ["PATH"]]),
               VERILATOR_ROOT=str(root), XDG_CACHE_HOME=str(home / "cache"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))
    cmd = [str(Path(sys.executable).parent / "fusesoc"), "--cores-root", str(library), "run", "--target", target, CORE]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)


def test_the_core_lint_waives_exactly_the_documented_warnings():
    """chimney.core is hand-written YAML: its Verilator options must stay the waiver list."""
    import re
    from chimney.tb.lint import WAIVERS
    options = re.search(r"verilator_options: \[(.*?)\]", (ROOT / "chimney.core").read_text()).group(1)
    assert [o.strip() for o in options.split(",")] == [f"-Wno-{w}" for w, _ in WAIVERS]


def test_fusesoc_lint_target(library, tmp_path):
    proc = _fusesoc(library, tmp_path, "lint")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "Generating chimney:offload:chimney_engine-engine" in log and "--lint-only" in (
        next((tmp_path / "build").rglob("*.vc")).read_text())


def test_fusesoc_sim_target_completes_a_nop(library, tmp_path):
    proc = _fusesoc(library, tmp_path, "sim")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "TB PASS" in log, log[-4000:]
    assert "TB FAIL" not in log
