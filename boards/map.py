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


def board_reg(name):
    """Bridge address of a board register."""
    return BOARD_BASE + BOARD_REGS[name][0]
