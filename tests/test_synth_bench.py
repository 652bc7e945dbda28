"""Fast checks of `make synth` and `make bench` (the slow steps are mocked or shrunk):
the JSON they write, the synthesis harness, the bus-bound arithmetic, and the
generator's parameter checks."""

import json
import re

import pytest

from chimney import synth
from chimney.__main__ import main as chimney_main
from chimney.contract import EngineParams
from chimney.tb import bench
from chimney.tb.simbuild import ROOT

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)
ROW_KEYS = {"device", "tcp_entries", "fmax_mhz", "luts", "ffs", "brams"}


def test_the_synth_extra_pins_the_tools_synth_expects():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(p.split("==") for p in project["optional-dependencies"]["synth"])
    assert pins == synth.TOOLS
    assert re.search(r"^\$\(VENV\)/\.synth-tools:.*\n\t\$\(PY\) -m pip install --quiet -e '\.\[synth\]'$",
                     (ROOT / "Makefile").read_text(), re.M)


def test_bram_estimate_counts_the_guard_beside_the_word():
    # yosys mapped the default build's ten 72-bit memories to 76 DP16KD (docs/performance.md);
    # the guard widens tcp_meta (1024 x 81: 2 more) and req_pool (4096 x 87: 8 more)
    assert synth.bram_estimate(EngineParams()) == 76 + 2 + 8
    # 4096 connections fit only with the TCP meta guard inside the word (n_req <= 512)
    assert synth.bram_estimate(EngineParams(n_tcp=4096, n_req=1024)) > synth.ECP5_85F.brams
    assert synth.bram_estimate(EngineParams(n_tcp=4096, n_req=512)) <= synth.ECP5_85F.brams
    assert synth.bram_estimate(EngineParams(n_tcp=8192, n_req=2048)) > synth.ECP5_85F.brams


def test_wrapper_keeps_every_port_behind_flops():
    text = ("module chimney_engine(a, b, clk, rst, y, z);\n  input [2:0] a;\n  input b;\n  input clk;\n"
            "  input rst;\n  output [19:0] y;\n  output z;\nendmodule\n")
    ports = synth.engine_ports(text)
    assert ports == [("input", "a", 3), ("input", "b", 1), ("output", "y", 20), ("output", "z", 1)]
    v = synth.wrapper_verilog(ports)
    assert "reg [3:0] in_sr;" in v and ".a(in_sr[2:0])" in v and ".b(in_sr[3:3])" in v
    assert ".y(o[19:0])" in v and ".z(o[20:20])" in v
    assert "fold[0] <= ^o_r[15:0];" in v and "fold[1] <= ^o_r[20:16];" in v
    assert ".rst(rst_sync[1])" in v


def test_only_all_zero_memory_initialisers_are_stripped():
    text = ("  reg [7:0] mem [1:0];\n  initial begin\n    mem[0] = 8'h00;\n    mem[1] = 8'h00;\n  end\n"
            "  reg [7:0] rom [1:0];\n  initial begin\n    rom[0] = 8'h00;\n    rom[1] = 8'h2a;\n  end\n")
    out, n = synth.strip_zero_memory_init(text)
    assert n == 1 and "mem[0]" not in out and "rom[1] = 8'h2a;" in out and "reg [7:0] mem [1:0];" in out


def test_synth_row_schema_with_the_tools_mocked(tmp_path, monkeypatch):
    def fake_run(cmd, log, timeout):
        work = log.parent
        if "yosys" in cmd[0]:
            (work / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {
                "LUT4": 1000, "CCU2C": 10, "TRELLIS_FF": 800, "DP16KD": 12}}}))
        else:
            (work / "report.json").write_text(json.dumps({
                "fmax": {"$glbnet$clk": {"achieved": 161.5, "constraint": 150.0}},
                "utilization": {"TRELLIS_COMB": {"used": 1100, "available": 83640},
                                "TRELLIS_FF": {"used": 800, "available": 83640},
                                "DP16KD": {"used": 12, "available": 208}},
                "critical_paths": [{"from": "clk", "to": "clk", "path": [
                    {"type": "clk-to-q", "from": {"cell": "a", "port": "Q"}, "to": {"cell": "b", "port": "A"},
                     "net": "n", "delay": 0.5}]}]}))
        return 0, 0.1

    buffers = []

    def fake_generate(outdir, params, reset_buffer="fabric"):
        buffers.append(reset_buffer)
        (outdir / "chimney_engine.v").write_text(
            "module chimney_engine(a, clk, rst, y);\n  input [3:0] a;\n  input clk;\n  input rst;\n"
            "  output [1:0] y;\n  reg [7:0] m [1:0];\n  initial begin\n    m[0] = 8'h00;\n    m[1] = 8'h00;\n"
            "  end\nendmodule\n")

    import chimney.generate
    monkeypatch.setattr(chimney.generate, "generate", fake_generate)
    monkeypatch.setattr(synth, "_source_key", lambda cfg, params, seeds=(1,): "key")   # others may edit rtl/
    monkeypatch.setattr(synth, "_run", fake_run)
    monkeypatch.setattr(synth, "tool", lambda name: name)
    cfg = synth.Config("tiny", SMALL, synth.ECP5_85F, 150)
    row = synth.run_config(cfg, SMALL, tmp_path, log=lambda msg: None)
    assert buffers == ["ecp5"]              # ECP5 rows: the soft reset on a global network
    assert ROW_KEYS <= set(row)
    assert (row["tcp_entries"], row["fmax_mhz"], row["luts"], row["ffs"], row["brams"]) == (16, 161.5, 1100, 800, 12)
    assert row["fits"] and row["meets_target"] and row["critical_path"]["steps"][0]["from"] == "a"
    assert ".a(in_sr[3:0])" in (tmp_path / "tiny" / "synth_top.v").read_text()
    assert "initial" not in (tmp_path / "tiny" / "chimney_engine.synth.v").read_text()
    # an unchanged configuration is not run again
    monkeypatch.setattr(synth, "_run", lambda *a, **k: pytest.fail("ran the tools again"))
    assert synth.run_config(cfg, SMALL, tmp_path, log=lambda msg: None)["fmax_mhz"] == 161.5


def test_every_seed_places_the_same_netlist(tmp_path, monkeypatch):
    """A configuration with several nextpnr seeds: yosys once, nextpnr once per seed on
    the same netlist (the others in seed<N>/), each seed's Fmax in `seeds`, the row's
    figures from the first seed."""
    runs = []

    def fake_run(cmd, log, timeout):
        work = log.parent
        if "yosys" in cmd[0]:
            runs.append("yosys")
            (work / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {
                "LUT4": 10, "TRELLIS_FF": 8, "DP16KD": 1}}}))
            return 0, 0.1
        seed = int(cmd[cmd.index("--seed") + 1])
        netlist = cmd[cmd.index("--json") + 1]
        runs.append((seed, (work / netlist).resolve()))
        (work / "report.json").write_text(json.dumps({
            "fmax": {"$glbnet$clk": {"achieved": 130.0 + 10 * seed, "constraint": 150.0}},
            "utilization": {"TRELLIS_COMB": {"used": 11}, "TRELLIS_FF": {"used": 8}, "DP16KD": {"used": 1}},
            "critical_paths": []}))
        return 0, 0.1

    def fake_generate(outdir, params, reset_buffer="fabric"):
        (outdir / "chimney_engine.v").write_text(
            "module chimney_engine(a, clk, rst, y);\n  input [3:0] a;\n  input clk;\n  input rst;\n"
            "  output [1:0] y;\nendmodule\n")

    import chimney.generate
    monkeypatch.setattr(chimney.generate, "generate", fake_generate)
    monkeypatch.setattr(synth, "_source_key", lambda cfg, params, seeds=(1,): f"key{seeds}")
    monkeypatch.setattr(synth, "_run", fake_run)
    monkeypatch.setattr(synth, "tool", lambda name: name)
    cfg = synth.Config("tiny", SMALL, synth.ECP5_85F, 150, seeds=(2, 1, 3))
    row = synth.run_config(cfg, SMALL, tmp_path, log=lambda msg: None)
    assert runs[0] == "yosys" and sorted(r[0] for r in runs[1:]) == [1, 2, 3]
    assert {r[1] for r in runs[1:]} == {(tmp_path / "tiny" / "netlist.json").resolve()}
    assert [s["seed"] for s in row["seeds"]] == [2, 1, 3]
    assert [s["fmax_mhz"] for s in row["seeds"]] == [150.0, 140.0, 160.0]
    assert row["fmax_mhz"] == 150.0 and row["fmax_min_mhz"] == 140.0 and row["meets_target"]
    assert row["meets_target_all_seeds"]           # 140 is within 10 MHz of the target
    assert (tmp_path / "tiny" / "seed3" / "report.json").exists()
    # a seed falling further short fails the all-seeds figure
    cfg = synth.Config("tiny", SMALL, synth.ECP5_85F, 150, seeds=(2, 0))
    assert not synth.run_config(cfg, SMALL, tmp_path, log=lambda msg: None)["meets_target_all_seeds"]


def test_largest_skips_candidates_whose_estimate_cannot_fit(tmp_path, monkeypatch):
    ran = []

    def fake_config(cfg, params, outdir, **kw):
        ran.append((params.n_tcp, params.n_req))
        return {"tcp_entries": params.n_tcp, "fits": params.n_tcp <= 2048, "device": cfg.device.name,
                "fmax_mhz": 150.0, "luts": 1, "ffs": 1, "brams": 1}

    monkeypatch.setattr(synth, "run_config", fake_config)
    row = synth.run_largest(synth.configs()["largest"], tmp_path, log=lambda msg: None)
    # 8192 and 4096 x 1024 are skipped on their estimates; 4096 x 512 runs (and, here, fails)
    assert ran == [(4096, 512), (2048, 2048)]
    assert row["tcp_entries"] == 2048 and [t["tcp_entries"] for t in row["larger_tried"]] == [8192, 4096, 4096]


def test_bus_bound_counts_the_write_channel():
    # per TCP object: 116 delegated + 4 Status + 8 request header; per command a 16-byte completion
    assert bench.write_bytes_per_tcp() == 128
    assert bench.bus_bound_cycles(1) == 18
    assert bench.bus_bound_cycles(1024) == (1024 * 128 + 16) / 8


def test_bench_json_schema():
    raw = [{"objects": n, "cycles": 20 * n + 60, "w_bytes": 128 * n + 16, "w_beats": 17 * n + 2,
            "aw_bursts": 3 * n + 1, "r_beats": 4 * n + 4, "cycles_to_bresp": 20 * n + 62,
            "state_cycles": {"ROW_READ_RUN": 13 * n, "IDLE": 5}} for n in bench.DEFAULT_BATCHES]
    speed = {"icarus": {"cycles": 1000, "wall_s": 2.0}, "verilator": {"cycles": 1000, "wall_s": 1.0},
             "amaranth-sim": {"cycles": 1000, "wall_s": 10.0}}
    report = bench.assemble(EngineParams(), raw, speed, batch_sim="verilator")
    json.dumps(report)
    rows = report["terminate"]
    assert [r["objects"] for r in rows] == [1, 16, 256, 1024]
    for r in rows:
        assert {"objects", "cycles", "cycles_per_object", "bus_bound_cycles_per_object", "efficiency"} <= set(r)
        assert r["efficiency"] == pytest.approx(bench.bus_bound_cycles(r["objects"]) / r["cycles"], abs=1e-4)
    assert report["latency_cycles"] == 80
    assert report["sim_speed"]["verilator"]["cycles_per_s"] == 1000
    assert set(report["sim_speed"]) == {"scenario", "icarus", "verilator", "amaranth-sim"}
    assert report["targets"]["efficiency_met"] is False


@pytest.mark.slow
def test_speed_scenario_on_amaranth_sim():
    result = bench.amaranth_speed(SMALL, n_tcp=2)
    assert result["cycles"] > 100 and result["wall_s"] > 0


@pytest.mark.parametrize("args, message", [
    (["--scrub-interval", str(1 << 32)], "scrub_interval"),
    (["--ecc", "maybe"], "not a boolean"),
    (["--data-width", "96"], "data_width"),
    (["--n-path", "65536", "--n-req", "16384"], "tcp_meta"),
    (["--dma-timeout", "1"], "dma_timeout"),
])
def test_generator_refuses_bad_parameters(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        chimney_main(["generate", "--out", str(tmp_path), *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_synth_main_writes_a_row_per_configuration(tmp_path, monkeypatch):
    def fake_config(cfg, params, outdir, **kw):
        return {"config": cfg.name, "device": cfg.device.name, "tcp_entries": params.n_tcp, "fits": True,
                "fmax_mhz": 100.0, "luts": 1, "ffs": 1, "brams": 1}

    monkeypatch.setattr(synth, "run_config", fake_config)
    monkeypatch.setattr(synth, "tool", lambda name: name)
    out = tmp_path / "synth.json"
    assert synth.main(["--out", str(out), "--only", "default,largest,ice40", "--jobs", "2"]) == 0
    data = json.loads(out.read_text())
    assert data["complete"] and [r["config"] for r in data["rows"]] == ["default", "largest", "ice40"]
    for row in data["rows"]:
        assert ROW_KEYS <= set(row)
    assert [r["device"] for r in data["rows"]] == ["LFE5U-85F-8BG381"] * 2 + ["iCE40HX8K-CT256"]


def test_generator_wide_dma_bus(tmp_path):
    """A 256-bit DMA bus: the port is that wide and the register map says so."""
    assert chimney_main(["generate", "--out", str(tmp_path), "--data-width", "256",
                         "--n-tcp", "16", "--n-req", "32", "--n-path", "8", "--n-neighbor", "4"]) in (0, None)
    text = (tmp_path / "chimney_engine.v").read_text()
    assert "output [255:0] dma__wdata;" in text and "output [31:0] dma__wstrb;" in text
    regs = {r["name"]: r for r in json.loads((tmp_path / "regmap.json").read_text())["registers"]}
    caps = {f["name"]: f for f in regs["CAPS"]["fields"]}
    assert caps["DMA_BYTES"]["reset"] == 32


def test_ecp5_builds_put_the_soft_reset_on_a_dcca():
    """reset_buffer="ecp5": one DCCA whose output is the stages' only reset (the domain's
    rst ORed in before it), so no LUT sits between the global network and the flops;
    the default build has no vendor primitive at all."""
    import re
    from amaranth.back import verilog
    from chimney.rtl.top import ChimneyEngine
    ecp5 = verilog.convert(ChimneyEngine(SMALL, reset_buffer="ecp5"), name="chimney_engine", emit_src=False)
    fabric = verilog.convert(ChimneyEngine(SMALL), name="chimney_engine", emit_src=False)
    assert len(re.findall(r"^\s*DCCA\s", ecp5, re.M)) == 1 and "DCCA" not in fabric
    out = re.search(r"\.CLKO\((\w+)\)", ecp5).group(1)
    # every stage gets the DCCA's output as its reset, unchanged
    assert re.findall(r"\.stages_rst\((\w+)\)", ecp5) and set(re.findall(r"\.stages_rst\((\w+)\)", ecp5)) == {out}
    with pytest.raises(ValueError):
        ChimneyEngine(SMALL, reset_buffer="xilinx")
