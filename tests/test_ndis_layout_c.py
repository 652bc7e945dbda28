"""The NDIS byte layout checked against something outside chimney.contract: an independent
transcription of ndischimney.h's delegated-state declarations (tests/c/), compiled by the
system C compiler for x86-64. Every offsetof and sizeof must equal the contract's, and the
bytes a TERMINATE leaves in host memory must read, through the C struct, as the values
the connection was offloaded with."""

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from chimney.contract import DATA, EngineParams, NdisStatus, ObjType, split_handle
from chimney.contract.ndis import DELEGATED, HEADER, WRITE_BACK
from chimney.sw.harness import RawHost

HERE = Path(__file__).resolve().parent / "c"


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler (gcc is part of the Python build toolchain this project needs)"
    exe = tmp_path_factory.mktemp("c") / "layout_probe"
    proc = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-m64", "-I", str(HERE),
                           "-o", str(exe), str(HERE / "layout_probe.c")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return exe


def _layout(probe):
    members, sizes = {}, {}
    for line in subprocess.run([str(probe)], capture_output=True, text=True, check=True, timeout=60).stdout.split("\n"):
        if not line:
            continue
        struct, member, *rest = line.split()
        if member == "sizeof":
            sizes[struct] = int(rest[0])
        else:
            members.setdefault(struct, {})[member] = (int(rest[0]), int(rest[1]))
    return members, sizes


def test_every_offset_and_size_matches_the_c_compiler(probe):
    members, sizes = _layout(probe)
    assert sizes["OFFLOAD_STATE_HEADER"] == HEADER.size
    for t, struct in DELEGATED.items():
        assert sizes[struct.name] == struct.size, struct.name
        ours = {name: (off, ctype.size) for name, off, ctype in struct.fields()}
        assert ours == members[struct.name], f"{struct.name}: {ours} != {members[struct.name]}"


def test_a_terminate_reads_back_through_the_c_struct(probe, tmp_path):
    """Offload a connection with a distinct value in every delegated field, TERMINATE it on
    the reference model (the RTL is checked byte for byte against it elsewhere), and read
    the host buffer through the compiled struct."""
    rng = random.Random(20261202)
    host = RawHost.over_model(EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32), cmd_log2=4, cpl_log2=4,
                              evt_log2=4)
    nb = host.offload(ObjType.NEIGHBOR, 0, cookie=1, NicReachabilityDelta=0x1234567)[0]["result"]
    pa = host.offload(ObjType.PATH, nb, cookie=2, PathMtu=1500)[0]["result"]
    row = DATA[ObjType.TCP]
    written = {name for name, _, _ in WRITE_BACK[ObjType.TCP].fields}
    fields = {}
    for name, _, width, _ in row.flat():
        fields[name] = rng.getrandbits(width) or 1 if name in written else 0
    fields["State"] = 4                                   # TcpConnectionEstablished
    tc = host.offload(ObjType.TCP, pa, cookie=3, **fields)[0]["result"]
    entries = [host.entry(tc, parent=split_handle(pa)[1]), host.entry(pa, parent=split_handle(nb)[1]),
               host.entry(nb)]
    cpl, _ = host.terminate(entries)
    assert cpl["status"] == NdisStatus.SUCCESS, cpl
    values = {}
    for entry, t in zip(entries, (ObjType.TCP, ObjType.PATH, ObjType.NEIGHBOR)):
        struct = DELEGATED[t]
        image = tmp_path / f"{struct.name}.bin"
        image.write_bytes(host.memory.read(entry.state_addr, struct.size))
        out = subprocess.run([str(probe), struct.name, str(image)], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        values[t] = {line.split()[1]: int(line.split()[2], 16) for line in out.split("\n") if line}
    tcp = values[ObjType.TCP]
    for member in written:
        c_name = member.replace("_", ".") if member.startswith(("KeepAlive_", "Retransmit_")) else member
        assert tcp[c_name] == fields[member], f"{c_name}: C reads {tcp[c_name]:#x}, offloaded {fields[member]:#x}"
    # what the engine must not touch: the header stays the host's (the harness filled it with 0xA5)
    assert tcp["Header.Length"] == tcp["Header.RecognizedOptions"] == 0xA5A5A5A5
    assert values[ObjType.NEIGHBOR]["NicReachabilityDelta"] == 0x1234567
    assert values[ObjType.PATH]["Header.Length"] == 0xA5A5A5A5
