"""The board build plans (boards/platform.py, chimney/bitstream.py) without the tools.

`platform.prepare` runs everything up to the place-and-route tools: elaboration on the
amaranth-boards platform, RTLIL, the yosys script, the LPF. For every board
`make bitstream` knows, this checks the plan against the boards' own documentation
(not against amaranth-boards, which wrote it): the USB-serial pins and the LED are
where the board's schematic (and LiteX's platform file for the same board) puts them,
the design clock is constrained at the frequency the core's UART divisor assumes, and
the Versa's PLL settings give that clock inside the ECP5 sysCLOCK limits.
"""

import re

import pytest

from chimney.boards.platform import BOARDS, BoardTop

# site of the FPGA's UART receive / transmit pins, from the boards' schematics
# (ULX3S: FT231X TXD -> M1, RXD <- L4; Versa ECP5: FT2232H channel B on C11 / A11)
UART_SITES = {"ulx3s-85f": ("M1", "L4"), "ulx3s-45f": ("M1", "L4"), "versa-ecp5": ("C11", "A11")}
NEXTPNR_DEVICE = {"ulx3s-85f": "--85k", "ulx3s-45f": "--45k", "versa-ecp5": "--um-45k"}


def _plan(name):
    spec = BOARDS[name]
    platform = spec.platform_class()(toolchain="Trellis")
    plan = platform.prepare(BoardTop(spec, spec.engine_params()), name="chimney_board",
                            nextpnr_opts="--report report.json --seed 1")
    return spec, platform, plan


def _site(lpf, port):
    found = re.search(rf'LOCATE COMP "{re.escape(port)}" SITE "(\w+)";', lpf)
    return found and found.group(1)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_plan_pins_clock_and_script(name):
    spec, platform, plan = _plan(name)
    lpf = plan.files["chimney_board.lpf"]
    assert (_site(lpf, "uart_0__rx__io"), _site(lpf, "uart_0__tx__io")) == UART_SITES[name]
    assert _site(lpf, "led_0__io"), "the interrupt LED is not placed"
    clocks = {m.group(1): float(m.group(2)) for m in re.finditer(r'FREQUENCY (?:NET|PORT) "(\S+)" ([\d.]+) HZ;', lpf)}
    assert spec.clk_mhz * 1e6 in clocks.values(), f"no {spec.clk_mhz} MHz constraint in {clocks}"
    script = plan.files["build_chimney_board.sh"]
    nextpnr = next(line for line in script.splitlines() if "NEXTPNR_ECP5\"" in line)
    assert NEXTPNR_DEVICE[name] in nextpnr.split() and "--report report.json" in nextpnr
    assert "ECPPACK" in script and "chimney_board.bit" in script
    rtlil = plan.files["chimney_board.il"]
    assert "UartBone" in rtlil or "bridge" in rtlil       # the core, not an empty top
    if spec.pll:
        assert "EHXPLLL" in rtlil


@pytest.mark.parametrize("name", [n for n, s in BOARDS.items() if s.pll])
def test_pll_settings_inside_sysclock_limits(name):
    """fout = fin / CLKI_DIV * CLKFB_DIV with CLKOP feedback; the VCO (fout * CLKOP_DIV)
    must lie in 400-800 MHz and the phase detector input in 3.125-400 MHz (Lattice
    TN1263, ECP5 sysCLOCK PLL/DLL design and usage guide)."""
    spec, platform, _ = _plan(name)
    clki_div, clkfb_div, clkop_div, _cphase = spec.pll
    fin = platform.default_clk_frequency / 1e6
    fout = fin / clki_div * clkfb_div
    assert fout == pytest.approx(spec.clk_mhz)
    assert 400 <= fout * clkop_div <= 800
    assert 3.125 <= fin / clki_div <= 400


def test_docs_board_md_holds_the_generated_address_map():
    from pathlib import Path
    from chimney.boards.map import map_md
    page = (Path(__file__).resolve().parent.parent / "docs" / "board.md").read_text()
    block = page.split("<!-- map_md begin -->\n", 1)[1].split("<!-- map_md end -->", 1)[0]
    assert block == map_md(), "docs/board.md's address map is stale: paste chimney.boards.map.map_md()"
