"""The demo: what exists so far, driven through the driver's register window."""

import json
import os

import cocotb

from chimney.contract import ErrorCode
from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, start
from chimney.tb.env import params_from_env, simulator


@cocotb.test()
async def demo(dut):
    params = params_from_env()
    await start(dut)
    regs = Registers(CocotbDevice(dut), params)
    log = []
    ident = await regs.read("ID")
    version = regs.decode("VERSION", await regs.read("VERSION"))
    log.append(f"ID 0x{ident:08X} ('{ident.to_bytes(4, 'big').decode()}'), contract version "
               f"{version['MAJOR']}.{version['MINOR']}.{version['PATCH']}")
    caps = {name: await regs.read(name) for name in ("CAP_NEIGHBOR", "CAP_PATH", "CAP_TCP", "CAP_REQ")}
    log.append("tables: " + ", ".join(f"{k[4:].lower()} {v}" for k, v in caps.items()))
    await regs.write("SCRATCH", 0xC0FFEE42)
    scratch = await regs.read("SCRATCH")
    log.append(f"SCRATCH write 0xC0FFEE42, read back 0x{scratch:08X}")
    await regs.write_fields("IRQ_MASK", ERR=1)
    await regs.write_fields("CMDQ_SIZE", LOG2=2)
    await regs.write_fields("CMDQ_PROD", INDEX=7)        # more than the 4-entry ring holds
    await regs.device.wait_irq(1000)
    err = await regs.read("ERR_STATUS")
    names = [e.name for e in ErrorCode if e and err >> e & 1]
    log.append(f"doorbell 7 on a 4-entry ring: interrupt raised, ERR_STATUS = {names}")
    await regs.write("ERR_STATUS", err)
    await regs.write("IRQ_STATUS", 0xFFFFFFFF)
    log.append(f"RW1C clear: interrupt line {'high' if regs.device.irq_level() else 'low'}")
    report = {
        "simulator": simulator(),
        "stage": "CSR vertical slice (command engine not yet built)",
        "id_ok": ident == 0x43484D59,
        "scratch_ok": scratch == 0xC0FFEE42,
        "irq_ok": names == ["CMDQ_OVERFLOW"] and not regs.device.irq_level(),
        "log": log,
    }
    for line in log:
        dut._log.info(line)
    with open(os.environ["CHIMNEY_DEMO_OUT"], "w") as f:
        json.dump(report, f, indent=1)
    assert report["id_ok"] and report["scratch_ok"] and report["irq_ok"]
