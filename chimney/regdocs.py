"""`make docs`: the register map through PeakRDL, from the `chimney.rdl` that
`chimney generate` writes.

    build/regs-html/index.html   HTML register reference (peakrdl-html)
    build/chimney.ipxact.xml     IP-XACT (IEEE 1685-2014) component with the register map (peakrdl-ipxact)

Both tools are pinned in the `docs` extra; they read the SystemRDL file, never our
Python, so what they show is what a register tool sees in chimney.rdl.
"""

import argparse
import sys
from pathlib import Path


def compile_rdl(path):
    from systemrdl import RDLCompiler
    compiler = RDLCompiler()
    compiler.compile_file(str(path))
    return compiler.elaborate(top_def_name="chimney")


def export(rdl_path, out):
    from peakrdl_html import HTMLExporter
    from peakrdl_ipxact import IPXACTExporter
    out = Path(out)
    root = compile_rdl(rdl_path)
    html = out / "regs-html"
    HTMLExporter().export(root, str(html), home_url=None, title="chimney registers")
    xml = out / "chimney.ipxact.xml"
    from chimney.contract.regmap import VERSION
    IPXACTExporter(vendor="chimney.example", library="chimney",
                   version=".".join(map(str, VERSION))).export(root.top, str(xml))
    return {"html": html / "index.html", "ipxact": xml}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m chimney.regdocs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rdl", nargs="?", default="build/chimney.rdl")
    ap.add_argument("--out", default="build")
    args = ap.parse_args(argv)
    for kind, path in export(args.rdl, args.out).items():
        print(f"{kind:7s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
