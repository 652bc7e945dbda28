"""The board's address map as the UART bridge sees it, and its own registers: defined
once here, used by the board design (boards/core.py), the serial backend
(chimney.sw.serial) and docs/board.md.

Bridge addresses are byte addresses (the framing carries them / 4).
"""

#: the engine's CSR window (docs/interface.md): bridge address = CSR offset + CSR_BASE
CSR_BASE = 0x0000_0000
#: the board's registers below
BOARD_BASE = 0x0001_0000
BOARD_SIZE = 0x100
#: host memory: DMA address A is bridge address HOSTMEM_BASE + A
HOSTMEM_BASE = 0x8000_0000

BOARD_ID = 0x4348_4244          # "CHBD"
BOARD_VERSION = 1

#: board registers: name -> (offset, access, description)
BOARD_REGS = {
    "ID":           (0x00, "RO", "0x43484244 ('CHBD'): the chimney board design"),
    "VERSION":      (0x04, "RO", "board design version"),
    "IRQ":          (0x08, "RO", "bit 0: the engine's interrupt line (also on the LED)"),
    "LINK":         (0x0C, "RO", "bits 7:0 bus errors the bridge saw, 15:8 UART framing errors, 23:16 UART overruns"),
    "HOSTMEM_BASE": (0x10, "RO", "bridge address of host memory (DMA address 0)"),
    "HOSTMEM_SIZE": (0x14, "RO", "host memory size in bytes"),
    "CLK_HZ":       (0x18, "RO", "the design's clock in Hz"),
    "SCRATCH":      (0x1C, "RW", "read/write scratch word, for a link test"),
}


#: LINK's counters: (name, first bit), 8 bits each, saturating (boards/regs.py packs them)
LINK_FIELDS = (("bus", 0), ("framing", 8), ("overrun", 16))


def board_reg(name):
    """Bridge address of a board register."""
    return BOARD_BASE + BOARD_REGS[name][0]


def map_md():
    """The address map and the board registers as docs/board.md shows them (a test checks
    the committed page holds exactly this)."""
    from chimney.contract import EngineParams, register_map
    csr_bytes = 1 << register_map(EngineParams()).addr_bits
    lines = ["| bridge address | what | size |", "|---|---|---|",
             f"| `{CSR_BASE:#010x}` | the engine's CSR window (docs/interface.md): offset + {CSR_BASE:#x} "
             f"| {csr_bytes} bytes |",
             f"| `{BOARD_BASE:#010x}` | the board registers (below) | {BOARD_SIZE} bytes |",
             f"| `{HOSTMEM_BASE:#010x}` | host memory: DMA address A at `{HOSTMEM_BASE:#x} + A` | `HOSTMEM_SIZE` |",
             "| anything else | DECERR: reads as 0, counted in `LINK` | |",
             "",
             "| register | bridge address | access | meaning |", "|---|---|---|---|"]
    for name, (offset, access, text) in BOARD_REGS.items():
        lines.append(f"| `{name}` | `{BOARD_BASE + offset:#010x}` | {access} | {text} |")
    return "\n".join(lines) + "\n"
