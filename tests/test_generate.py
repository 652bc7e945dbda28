"""Generated artefacts: Verilog lint, name map, exports in sync with the contract."""

import json
import re

from chimney.contract import EngineParams, register_map
from chimney.contract.export import interface_md, c_header, as_json
from chimney.tb import simbuild
from chimney.tb.lint import lint
from chimney.tb.simbuild import ROOT


def test_generated_verilog_is_lint_clean_with_documented_waivers():
    out = simbuild.generated(EngineParams())
    ok, log = lint(out / "chimney_engine.v")
    assert ok, log


def test_docs_interface_md_matches_the_contract():
    committed = (ROOT / "docs" / "interface.md").read_text()
    assert committed == interface_md(), "docs/interface.md is stale: run `make verilog`"


def test_c_header_and_json_agree_with_the_register_map():
    params = EngineParams()
    header = c_header(params)
    data = as_json(params)
    for reg in register_map(params):
        m = re.search(rf"#define CHIMNEY_REG_{reg.name} 0x([0-9A-F]+)u", header)
        assert m and int(m.group(1), 16) == reg.offset, reg.name
        (entry,) = [r for r in data["registers"] if r["name"] == reg.name]
        assert entry["offset"] == reg.offset and entry["reset"] == reg.reset
    json.dumps(data)          # serialisable


def test_exports_follow_parameters():
    small = as_json(EngineParams(n_tcp=64, n_req=256))
    caps = {r["name"]: r["reset"] for r in small["registers"]}
    assert caps["CAP_TCP"] == 64 and caps["CAP_REQ"] == 256
    assert "#define CHIMNEY_PARAM_N_TCP 64u" in c_header(EngineParams(n_tcp=64, n_req=256))


def test_name_map_lists_every_bank_and_the_write_register():
    """Banked memories: the banks cover the memory's words in order, each array is declared
    in the Verilog, and each write register's signals are registers of the memory's module."""
    out = simbuild.generated(EngineParams())
    names = json.loads((out / "chimney_engine.names.json").read_text())
    text = (out / "chimney_engine.v").read_text()
    assert len(names["memories"]["tcp_data"]["banks"]) == 5            # 10240 words, 2048 a bank
    for name, mem in names["memories"].items():
        at = 0
        for bank in mem["banks"]:
            assert bank["base"] == at, name
            array = bank["path"].split(".")[-1]
            assert re.search(rf"reg \[{mem['width'] - 1}:0\] {array} \[{bank['depth'] - 1}:0\];", text), bank
            at += bank["depth"]
        assert at == mem["depth"], name
        assert ("path" in mem) == (len(mem["banks"]) == 1)
        assert set(mem["write_register"]) == {"en", "addr", "code"}
        for path in mem["write_register"].values():
            assert path.startswith(f"tables.{name}.") and re.search(rf"reg (\[\d+:0\] )?{path.split('.')[-1]} ", text)
