"""The board design on real boards: BoardCore on an amaranth-boards platform.

    BoardTop(params, mem_size, baud)   the toplevel Elaboratable for `platform.build()`:
        the platform's UART (its USB-serial bridge) to the core's uart pins, the engine's
        interrupt on LED 0, the design clock from the platform's default clock (through a
        PLL where that clock is faster than the engine closes at)

`BOARDS` names the boards `make bitstream BOARD=...` knows: to port the design to
another ECP5 board in amaranth-boards, add its platform class here with the clock it
should run at (docs/board.md, "Another board").
"""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib import io

from chimney.contract import EngineParams

from .core import BoardCore

__all__ = ["BoardTop", "BOARDS", "board_spec"]


@dataclass(frozen=True)
class BoardSpec:
    name: str
    module: str                  # amaranth_boards module
    platform: str                # platform class in it
    clk_mhz: float               # the design clock
    pll: tuple = None            # (CLKI_DIV, CLKFB_DIV, CLKOP_DIV, CLKOP_CPHASE): platform clock -> clk_mhz
    mem_size: int = 64 * 1024
    #: engine tables (neighbor, path, TCP rows, request entries) the board is built with:
    #: the default engine's (docs/board.md, *Status*: 113 of the 85F's 208 block RAMs
    #: with the 64 KiB host memory); the 45F boards set a smaller size
    tables: tuple = (64, 256, 1024, 4096)
    program: str = "openFPGALoader --board ulx3s {bit}"

    def engine_params(self, tables=None):
        names = ("n_neighbor", "n_path", "n_tcp", "n_req")
        return EngineParams().replace(**dict(zip(names, tables or self.tables)))

    def platform_class(self):
        import importlib
        return getattr(importlib.import_module(f"amaranth_boards.{self.module}"), self.platform)


#: the 45F parts (44k LUTs, 108 block RAMs): a quarter of the default tables, well inside
#: both; not yet built (docs/board.md)
SMALLER_45F = (16, 64, 256, 1024)

BOARDS = {
    # ULX3S: 25 MHz oscillator, FTDI FT231X USB-serial on M1/L4
    "ulx3s-85f": BoardSpec("ulx3s-85f", "ulx3s", "ULX3S_85F_Platform", 25.0),
    "ulx3s-45f": BoardSpec("ulx3s-45f", "ulx3s", "ULX3S_45F_Platform", 25.0, mem_size=32 * 1024,
                           tables=SMALLER_45F),
    # Lattice Versa ECP5 (LFE5UM-45F): 100 MHz oscillator, divided to 25 MHz by an EHXPLLL
    # (the values `ecppll -i 100 -o 25` gives); FTDI FT2232H channel B as the UART
    "versa-ecp5": BoardSpec("versa-ecp5", "versa_ecp5", "VersaECP5Platform", 25.0, pll=(4, 1, 24, 11),
                            mem_size=32 * 1024, tables=SMALLER_45F, program="openFPGALoader --board ecp5_evn {bit}"),
}


def board_spec(name):
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}: one of {', '.join(BOARDS)}") from None


class BoardTop(Elaboratable):
    def __init__(self, spec: BoardSpec, params: EngineParams = EngineParams(), baud=115_200):
        self.spec, self.params, self.baud = spec, params, baud

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        if spec.pll:
            self._pll(m, platform)
        core = BoardCore(self.params, mem_size=spec.mem_size, clk_hz=int(spec.clk_mhz * 1e6), baud=self.baud,
                         reset_buffer="ecp5")       # every board here is an ECP5
        m.submodules.core = core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [core.uart_rx.eq(rx.i), tx.o.eq(core.uart_tx), led.o.eq(core.irq)]
        if "uart_tx_enable" in {r.name for r in platform.resources.values()}:
            # ULX3S: the FTDI's TX buffer
            m.submodules.uart_tx_enable = en = io.Buffer("o", platform.request("uart_tx_enable", 0, dir="-"))
            m.d.comb += en.o.eq(1)
        return m

    def _pll(self, m, platform):
        """The sync domain from the platform clock through an ECP5 EHXPLLL; held in reset
        until the PLL locks."""
        clki_div, clkfb_div, clkop_div, cphase = self.spec.pll
        m.submodules.clk_in = clk_buf = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        clk_in = clk_buf.i
        m.domains.sync = ClockDomain("sync")
        locked, clk_out = Signal(), Signal()
        fin = platform.default_clk_frequency / 1e6
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=str(int(fin)), a_FREQUENCY_PIN_CLKOP=str(int(self.spec.clk_mhz)),
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=clkop_div, p_CLKOP_CPHASE=cphase,
            p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=clkfb_div,
            i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0,
            i_ENCLKOP=0, o_LOCK=locked)
        m.d.comb += [ClockSignal("sync").eq(clk_out), ResetSignal("sync").eq(~locked)]
        platform.add_clock_constraint(clk_out, self.spec.clk_mhz * 1e6)
