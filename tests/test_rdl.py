"""chimney.rdl, read by the SystemRDL reference compiler, against regmap.json; and the
PeakRDL exports `make docs` writes (HTML, IP-XACT)."""

import json
import xml.etree.ElementTree as ET

import pytest
from systemrdl import RDLCompiler
from systemrdl.rdltypes import AccessType, OnWriteType

from chimney.contract import EngineParams
from chimney.contract.export import write_all

PARAMS = EngineParams(n_tcp=256, n_req=1024)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    write_all(out, PARAMS)
    return out


def _compile(path):
    compiler = RDLCompiler()
    compiler.compile_file(str(path))
    return compiler.elaborate(top_def_name="chimney").top


def _expect_access(field):
    """What regmap.json's access class must look like to a SystemRDL tool."""
    access, const = field["access"], field.get("const", False)
    if access == "RO":
        return {"sw": AccessType.r, "hw": AccessType.na if const else AccessType.w}
    return {"sw": AccessType.rw, "hw": AccessType.r,
            "onwrite": OnWriteType.woclr if access == "RW1C" else None,
            "hwset": access == "RW1C", "hwclr": access == "RWSC", "swmod": access == "DB"}


def test_rdl_compiles_and_matches_regmap_json(exported):
    regmap = json.loads((exported / "regmap.json").read_text())
    top = _compile(exported / "chimney.rdl")
    regs = {r.inst_name: r for r in top.registers()}
    assert sorted(regs) == sorted(r["name"] for r in regmap["registers"])
    from chimney.contract.regmap import register_map
    consts = {(r.name, f.name) for r in register_map(PARAMS) for f in r.fields if f.const}
    for want in regmap["registers"]:
        node = regs[want["name"]]
        assert node.absolute_address == want["offset"] and node.size == 4, want["name"]
        fields = {f.inst_name: f for f in node.fields()}
        assert sorted(fields) == sorted(f["name"] for f in want["fields"]), want["name"]
        for wf in want["fields"]:
            f = fields[wf["name"]]
            where = f"{want['name']}.{wf['name']}"
            assert (f.lsb, f.width) == (wf["lsb"], wf["width"]), where
            assert (f.get_property("reset") or 0) == wf["reset"], where
            expect = _expect_access(dict(wf, const=(want["name"], wf["name"]) in consts))
            for prop, value in expect.items():
                got = f.get_property(prop)
                assert (got or None) == (value or None), f"{where}: {prop} is {got}, expected {value}"


def test_rdl_carries_facts_from_outside_the_contract_code(exported):
    """Values fixed by the hardware's identity and AXI4-Lite, not by our exporter."""
    regs = {r.inst_name: r for r in _compile(exported / "chimney.rdl").registers()}
    ident = regs["ID"].get_child_by_name("VALUE")
    assert ident.get_property("reset") == int.from_bytes(b"CHMY", "big")
    assert all(r.absolute_address % 4 == 0 and r.absolute_address < 4096 for r in regs.values())
    caps = regs["CAP_TCP"]
    assert sum(f.get_property("reset") << f.lsb for f in caps.fields()) == PARAMS.n_tcp


def test_peakrdl_writes_html_and_ipxact(exported, tmp_path):
    from chimney.regdocs import export
    paths = export(exported / "chimney.rdl", tmp_path)
    assert paths["html"].exists() and paths["html"].stat().st_size > 0
    ns = {"ipxact": "http://www.accellera.org/XMLSchema/IPXACT/1685-2014"}
    tree = ET.parse(paths["ipxact"])
    offsets = {r.findtext("ipxact:name", namespaces=ns): int(r.findtext("ipxact:addressOffset", namespaces=ns)
                                                              .replace("'h", ""), 16)
               for r in tree.iter(f"{{{ns['ipxact']}}}register")}
    regmap = json.loads((exported / "regmap.json").read_text())
    assert offsets == {r["name"]: r["offset"] for r in regmap["registers"]}
