"""chimney command line.

    python -m chimney generate [--out build] [--n-tcp 1024 ...]   Verilog + name map + register exports
    python -m chimney docs                                         rewrite docs/interface.md
    python -m chimney campaign [--n 1000 --shard K/N --out F.jsonl ...]  fault-injection campaign
    python -m chimney campaign merge FILES...                      shards -> campaign.json, chart, JUnit XML
    python -m chimney board --port /dev/ttyUSB0 | --fake           self-test on a board (docs/board.md)
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from .contract import EngineParams

ROOT = Path(__file__).resolve().parent.parent


def _bool(text):
    value = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (on/off, 1/0, true/false, yes/no)")
    return value


def _param_args(parser):
    for f in dataclasses.fields(EngineParams):
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            parser.add_argument(flag, type=_bool, default=f.default, help=f"(default {f.default})")
        else:
            parser.add_argument(flag, type=int, default=f.default, help=f"(default {f.default})")


def params_from(args, parser=None):
    """EngineParams from the flags; invalid combinations end with a usage error, not a traceback."""
    from .generate import check_params
    try:
        return check_params(EngineParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(EngineParams)}))
    except ValueError as e:
        if parser is None:
            raise
        parser.error(str(e))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["campaign"]:          # its own parser: chimney.tb.campaign
        from .tb.campaign import main as campaign
        return campaign(argv[1:])
    if argv[:1] == ["board"]:             # its own parser: chimney.board
        from .board import main as board
        return board(argv[1:])
    parser = argparse.ArgumentParser(prog="chimney", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate", help="write Verilog, name map, regmap.json, chimney_regs.h")
    gen.add_argument("--out", default="build", help="output folder (default build)")
    gen.add_argument("--docs", action="store_true", help="also rewrite docs/interface.md")
    _param_args(gen)
    sub.add_parser("docs", help="rewrite docs/interface.md from the contract")
    sub.add_parser("campaign", help="fault-injection campaign (chimney campaign --help; merge FILES...)")
    sub.add_parser("board", help="the driver's self-test on a chimney board over its serial port (chimney board --help)")
    args = parser.parse_args(argv)

    if args.cmd == "generate":
        from .generate import generate
        params = params_from(args, gen)
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
