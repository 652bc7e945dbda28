"""Verilog generation: the engine top, its name map, and the contract exports.

The name map (`<top>.names.json`) tells testbenches where each ECC memory (the array
of every bank, with the first word it holds, and the memory's write register) and each
registered probe signal ended up in the generated Verilog. It is built from
Amaranth's own name map and checked against the emitted text, so nothing that
reads it has to guess Yosys' naming.
"""

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import _ir
from amaranth.lib import wiring

from .contract import EngineParams, ObjType, memory_depth, meta_layout, pool_layout, stored_width
from .contract import export
from . import wrapper

TOP_NAME = wrapper.ENGINE_NAME


def _ports(top):
    ports = {}
    for path, member, value in top.signature.flatten(top):
        direction = _ir.PortDirection.Input if member.flow == wiring.In else _ir.PortDirection.Output
        ports["__".join(map(str, path))] = (value, direction)
    return ports


def _module_bodies(text):
    """{module name: body} of the emitted Verilog (escaped names unescaped)."""
    bodies = {}
    for match in re.finditer(r"^module (\\?\S+)\s*\(.*?^endmodule", text, re.M | re.S):
        bodies[match.group(1).lstrip("\\")] = match.group(0)
    return bodies


def _register_of(body, name):
    """The register a deposit must go to for signal `name` of a module: `name` itself when
    it is a `reg`; else (yosys merged it with a net named otherwise: a memory port's signal)
    the plain-named `reg` it is assigned from. None if neither is there."""
    if re.search(rf"^\s*reg (\[\d+:0\] )?{re.escape(name)}( = [^;]*)?;", body, re.M):
        return name
    alias = re.search(rf"^\s*assign {re.escape(name)} = (\w+)\s*;", body, re.M)
    if alias and re.search(rf"^\s*reg (\[\d+:0\] )?{re.escape(alias.group(1))}( = [^;]*)?;", body, re.M):
        return alias.group(1)
    return None


def build_name_map(top, amaranth_names, text, params):
    bodies = _module_bodies(text)
    memories = {}
    write_registers = top.write_registers()
    for name, banks in top.memory_paths().items():
        width = stored_width(params, name)        # 72, more where a guard sits beside the word
        entry = {"width": width, "depth": memory_depth(params, name), "banks": []}
        for path, base, depth in banks:
            module = ".".join((TOP_NAME,) + tuple(path[:-1]))
            decl = rf"reg \[{width - 1}:0\] {re.escape(path[-1])} \[{depth - 1}:0\];"
            if module not in bodies or not re.search(decl, bodies[module]):
                raise RuntimeError(f"memory {name} not found as {decl!r} in module {module}")
            entry["banks"].append({"path": ".".join(path), "base": base, "depth": depth})
        if sum(b["depth"] for b in entry["banks"]) != entry["depth"]:
            raise RuntimeError(f"memory {name}: its banks do not hold {entry['depth']} words")
        if len(banks) == 1:
            entry["path"] = entry["banks"][0]["path"]        # an unbanked memory's one array
        # the word being written (its bank gets it at the next clock edge)
        entry["write_register"] = {}
        for key, signal in zip(("en", "addr", "code"), write_registers[name]):
            names = amaranth_names.get(signal)
            if names is None:
                raise RuntimeError(f"memory {name}: write register {key} was optimised away")
            module = ".".join((TOP_NAME,) + tuple(names[1:-1]))
            reg = _register_of(bodies.get(module, ""), names[-1])
            if reg is None:
                raise RuntimeError(f"memory {name}: no register holds {'.'.join(names[1:])} in module {module}")
            entry["write_register"][key] = ".".join(names[1:-1] + (reg,))
        memories[name] = entry
    signals = {}
    for logical, (signal, encoding) in top.probe_signals().items():
        names = amaranth_names.get(signal)
        if names is None:
            raise RuntimeError(f"probe {logical} was optimised away")
        signals[logical] = {"path": ".".join(names[1:]), "width": len(signal)}
        if encoding:
            signals[logical]["encoding"] = encoding
    return {"top": TOP_NAME, "params": params.as_dict(), "memories": memories, "signals": signals}


_DUMP_MODULE = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


def simulator_safe(text):
    """Make the emitted Verilog start correctly on every event-driven simulator.

    Yosys gives each module a register `dump_module$N`, initialised to 0 and read by every
    `always @*` block, so that the blocks run once at time zero. Whether the initialiser
    runs before or after the blocks start waiting is left open by the Verilog standard:
    Icarus runs it first, and a block whose inputs then never change stays X for ever
    (the engine never takes its first command). Setting the register to 1 at time 1
    re-runs every block. The statement is simulation-only: synthesis tools skip it
    (`SYNTHESIS`, which Yosys and Vivado define, and the translate_off pragma, which the
    others honour), and Verilator, which orders its own evaluation, never sees it."""
    def patch(m):
        indent, reg = m.groups()
        return (f"{indent}reg {reg} = 0;\n"
                f"`ifndef SYNTHESIS\n`ifndef VERILATOR\n"
                f"{indent}// synthesis translate_off\n"
                f"{indent}initial #1 {reg} = 1'h1;\n"
                f"{indent}// synthesis translate_on\n"
                f"`endif\n`endif")
    text, count = _DUMP_MODULE.subn(patch, text)
    if "always @*" in text and count == 0:
        raise RuntimeError("no dump_module register in the emitted Verilog: yosys' output changed")
    return text


#: the VLNV of the core `generate` writes beside the files (FuseSoC's generator names its own)
CORE_VLNV = "chimney:offload:chimney_engine_files:0.1.0"


def fusesoc_core(vlnv, params):
    """A CAPI2 core listing the generated files (written as text: no YAML library needed).
    Targets: default (the wrapper as toplevel) and lint (Verilator, the documented waivers)."""
    from chimney.tb.lint import WAIVERS
    waivers = ", ".join(f"-Wno-{w}" for w, _ in WAIVERS)
    return (f"CAPI=2:\n"
            f"# Generated by `chimney generate`; do not edit. Build parameters: {params.describe()}\n"
            f"name: {vlnv}\n"
            f"description: chimney TCP offload engine, generated Verilog (top {wrapper.WRAPPER_NAME})\n"
            f"filesets:\n"
            f"  rtl:\n"
            f"    files:\n"
            f"      - chimney_regs.vh: {{is_include_file: true}}\n"
            f"      - {TOP_NAME}.v\n"
            f"      - {wrapper.WRAPPER_NAME}.v\n"
            f"    file_type: verilogSource\n"
            f"targets:\n"
            f"  default:\n"
            f"    filesets: [rtl]\n"
            f"    toplevel: {wrapper.WRAPPER_NAME}\n"
            f"  lint:\n"
            f"    flow: lint\n"
            f"    flow_options:\n"
            f"      tool: verilator\n"
            f"      verilator_options: [{waivers}]\n"
            f"    filesets: [rtl]\n"
            f"    toplevel: {wrapper.WRAPPER_NAME}\n")


def check_params(params: EngineParams):
    """Checks beyond EngineParams' own: values that must fit a register or a row word.
    Returns params; raises ValueError naming the parameter."""
    if not 0 <= params.scrub_interval < 1 << 32:
        raise ValueError(f"scrub_interval={params.scrub_interval}: must fit SCRUB_INTERVAL (0..2**32-1)")
    if not 2 <= params.dma_timeout < 1 << 32:
        raise ValueError(f"dma_timeout={params.dma_timeout}: must be 2..2**32-1 cycles")
    for t in ObjType:
        meta_layout(params, t)          # raises when the depths make a meta word wider than 64 bits
    pool_layout(params)
    return params


def generate(outdir, params: EngineParams = EngineParams(), *, docs=None, vlnv=None, reset_buffer="fabric"):
    """Write the Verilog, the wrapper and its templates, the FuseSoC core (named `vlnv`),
    the name map and the contract exports; return their paths. `reset_buffer`: see
    `chimney.rtl.top.RESET_BUFFERS` ("ecp5" puts the soft reset on a DCCA)."""
    from chimney.rtl.top import ChimneyEngine
    check_params(params)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    top = ChimneyEngine(params, reset_buffer=reset_buffer)
    fragment = _ir.Fragment.get(top, None)
    text, amaranth_names = verilog.convert_fragment(fragment, _ports(top), TOP_NAME, emit_src=False)
    name_map = build_name_map(top, amaranth_names, text, params)
    paths = {
        "verilog": outdir / f"{TOP_NAME}.v",
        "names": outdir / f"{TOP_NAME}.names.json",
        "wrapper": outdir / f"{wrapper.WRAPPER_NAME}.v",
        "template": outdir / f"{wrapper.WRAPPER_NAME}.veo",
        "vhdl": outdir / f"{wrapper.WRAPPER_NAME}.vho",
        "core": outdir / f"{TOP_NAME}.core",
    }
    paths["verilog"].write_text(simulator_safe(text))
    paths["names"].write_text(json.dumps(name_map, indent=1) + "\n")
    paths["wrapper"].write_text(wrapper.wrapper_verilog(top))
    paths["template"].write_text(wrapper.verilog_template(top))
    paths["vhdl"].write_text(wrapper.vhdl_template(top))
    paths["core"].write_text(fusesoc_core(vlnv or CORE_VLNV, params))
    export.write_all(outdir, params, docs_path=docs)
    paths.update(regmap=outdir / "regmap.json", header=outdir / "chimney_regs.h",
                 vheader=outdir / "chimney_regs.vh", rdl=outdir / "chimney.rdl",
                 registers=outdir / "registers.md")
    return paths
