"""What the pytest side hands a cocotb run: parameters, the name map, the simulator."""

import json
import os

from chimney.contract import EngineParams


def params_from_env():
    raw = os.environ.get("CHIMNEY_PARAMS")
    return EngineParams(**json.loads(raw)) if raw else EngineParams()


def name_map():
    with open(os.environ["CHIMNEY_NAMES"]) as f:
        return json.load(f)


def simulator():
    return os.environ.get("CHIMNEY_SIM", "unknown")
