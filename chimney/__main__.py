"""chimney command line.

    python -m chimney generate [--out build] [--n-tcp 1024 ...]   Verilog + name map + register exports
    python -m chimney docs                                         rewrite docs/interface.md
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from .contract import EngineParams

ROOT = Path(__file__).resolve().parent.parent


def _param_args(parser):
    for f in dataclasses.fields(EngineParams):
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"),
                                default=f.default, help=f"(default {f.default})")
        else:
            parser.add_argument(flag, type=int, default=f.default, help=f"(default {f.default})")


def params_from(args):
    return EngineParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(EngineParams)})


def main(argv=None):
    parser = argparse.ArgumentParser(prog="chimney", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate", help="write Verilog, name map, regmap.json, chimney_regs.h")
    gen.add_argument("--out", default="build", help="output folder (default build)")
    gen.add_argument("--docs", action="store_true", help="also rewrite docs/interface.md")
    _param_args(gen)
    sub.add_parser("docs", help="rewrite docs/interface.md from the contract")
    args = parser.parse_args(argv)

    if args.cmd == "generate":
        from .generate import generate
        params = params_from(args)
        paths = generate(args.out, params, docs=ROOT / "docs" / "interface.md" if args.docs else None)
        for kind, path in paths.items():
            print(f"{kind:9s} {path}")
        return 0
    if args.cmd == "docs":
        from .contract.export import interface_md
        (ROOT / "docs" / "interface.md").write_text(interface_md())
        print(ROOT / "docs" / "interface.md")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
