#!/usr/bin/env python3
"""FuseSoC generator (GAPI 1.0): run `chimney generate` with the core's parameters.

FuseSoC calls it as `python3 chimney_generate.py <input.yml>` in a fresh folder; the
input names the parameters (any EngineParams field: n_tcp, data_width, ecc, ...) and the
VLNV to give the generated core. It writes everything `chimney generate` writes there,
including chimney_engine.core, the core that lists the Verilog (under that VLNV). `chimney` must be importable by that
python3 (run fusesoc from the environment chimney is installed in).
"""

import sys
from pathlib import Path

import yaml

from chimney.contract import EngineParams
from chimney.generate import check_params, generate


def main(argv):
    config = yaml.safe_load(Path(argv[1]).read_text())
    params = check_params(EngineParams(**(config.get("parameters") or {})))
    # the files and the core that lists them (chimney_engine.core, named as FuseSoC asked)
    generate(Path.cwd(), params, vlnv=config["vlnv"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
