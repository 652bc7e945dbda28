"""The CSR map: every register the driver can touch, defined once.

The RTL register file (`chimney.rtl.csr`) is generated from `register_map()`;
the driver's constants, docs/interface.md, build/regmap.json and
build/chimney_regs.h are all generated from it too.

Access kinds (per field):
  RO    read-only; driven by the engine (or a constant)
  RW    read/write storage the engine reads
  RWSC  read/write; the engine clears it when the requested action is done
  RW1C  set by the engine, cleared by the host writing 1
  DB    doorbell: read/write storage plus a one-cycle write pulse to the engine

A register with a `lock` ignores host writes (answered OKAY, nothing changes) while
the named 1-bit field reads 1: the DMA windows while STATUS.ENABLED.
"""

from dataclasses import dataclass, field as dc_field

from .params import EngineParams, VERSION
from .status import ErrorCode
from .rows import MEMORIES
from .windows import reset_windows

ACCESS = ("RO", "RW", "RWSC", "RW1C", "DB")
ID_VALUE = 0x43484D59        # "CHMY"


@dataclass(frozen=True)
class RegField:
    name: str
    lsb: int
    width: int
    access: str
    reset: int = 0
    doc: str = ""
    const: bool = False       # RO field with a fixed value (the reset value)

    def __post_init__(self):
        assert self.access in ACCESS, self.access
        assert 0 <= self.lsb and self.lsb + self.width <= 32, self.name

    @property
    def mask(self):
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    doc: str
    fields: tuple = dc_field(default_factory=tuple)
    lock: str = ""            # "REG.FIELD" (a 1-bit RO field): host writes are ignored while it reads 1

    def __post_init__(self):
        assert self.offset % 4 == 0
        used = 0
        for f in self.fields:
            assert not used & f.mask, f"{self.name}.{f.name} overlaps"
            used |= f.mask

    @property
    def reset(self):
        return sum(f.reset << f.lsb for f in self.fields)

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")


class RegisterMap:
    def __init__(self, registers, addr_bits=12):
        self.registers = tuple(registers)
        self.addr_bits = addr_bits
        offsets = [r.offset for r in self.registers]
        assert len(set(offsets)) == len(offsets), "register offsets collide"
        assert max(offsets) < 1 << addr_bits
        self._by_name = {r.name: r for r in self.registers}
        assert len(self._by_name) == len(self.registers)

    def __iter__(self):
        return iter(self.registers)

    def __getitem__(self, name):
        return self._by_name[name]

    def field(self, dotted):
        reg, fld = dotted.split(".")
        return self[reg].field(fld)


def _f(name, lsb, width, access, reset=0, doc="", const=False):
    return RegField(name, lsb, width, access, reset, doc, const)


def _ring(prefix, base, what, producer_is_host):
    prod_access, cons_access = ("DB", "RO") if producer_is_host else ("RO", "DB")
    return [
        Register(f"{prefix}_BASE_LO", base + 0x0, f"{what}: ring base address, bits 31:0 (64-byte aligned)",
                 (_f("ADDR", 0, 32, "RW"),)),
        Register(f"{prefix}_BASE_HI", base + 0x4, f"{what}: ring base address, bits 63:32",
                 (_f("ADDR", 0, 32, "RW"),)),
        Register(f"{prefix}_SIZE", base + 0x8, f"{what}: log2 of the number of entries (1..15)",
                 (_f("LOG2", 0, 4, "RW"),)),
        Register(f"{prefix}_PROD", base + 0xC,
                 f"{what}: producer index, free-running 16 bits"
                 + (" (host doorbell)" if producer_is_host else " (engine)"),
                 (_f("INDEX", 0, 16, prod_access),)),
        Register(f"{prefix}_CONS", base + 0x10,
                 f"{what}: consumer index, free-running 16 bits"
                 + (" (engine)" if producer_is_host else " (host doorbell)"),
                 (_f("INDEX", 0, 16, cons_access),)),
    ]


WINDOW_BASE = 0x200         # WINn_* at WINDOW_BASE + 16*n


def _windows(params):
    """DMA address windows (chimney.contract.windows): inclusive byte addresses, locked
    while the engine is enabled. After reset window 0 is all of memory, the others empty."""
    regs = []
    for i, (base, limit) in enumerate(reset_windows(params)):
        off = WINDOW_BASE + 16 * i
        for j, (what, value) in enumerate((("BASE", base), ("LIMIT", limit))):
            lock = "locked while STATUS.ENABLED"
            doc = f"DMA window {i}: {'first' if what == 'BASE' else 'last'} byte address"
            regs.append(Register(f"WIN{i}_{what}_LO", off + 8 * j, f"{doc}, bits 31:0 ({lock})", (
                # windows are whole 8-byte beats (AxSIZE): bits 2:0 of a base read 0, of a limit 1
                *((_f("ONES", 0, 3, "RO", 7, "bits 2:0 of a limit are 1", const=True),) if what == "LIMIT" else ()),
                _f("ADDR", 3, 29, "RW", value >> 3 & (1 << 29) - 1, "bits 31:3"),), lock="STATUS.ENABLED"))
            regs.append(Register(f"WIN{i}_{what}_HI", off + 8 * j + 4, f"{doc}, bits 63:32 ({lock})",
                                 (_f("ADDR", 0, 32, "RW", value >> 32),), lock="STATUS.ENABLED"))
    return regs


IRQ_BITS = (("CPL", "a completion entry was written"),
            ("EVT", "an event entry was written"),
            ("ERR", "an ERR_STATUS bit selected by ERR_IRQ_MASK was set"))

#: ERR_STATUS bits that raise IRQ_STATUS.ERR after reset (corrections are only counted).
ERR_IRQ_DEFAULT = sum(1 << int(e) for e in ErrorCode if e not in (ErrorCode.NONE, ErrorCode.ECC_CORRECTED))


def register_map(params: EngineParams = EngineParams()) -> RegisterMap:
    err_fields = tuple(_f(e.name, int(e), 1, "RW1C", doc=f"ErrorCode.{e.name}")
                       for e in ErrorCode if e != ErrorCode.NONE)
    err_mask_fields = tuple(_f(e.name, int(e), 1, "RW", reset=ERR_IRQ_DEFAULT >> int(e) & 1)
                            for e in ErrorCode if e != ErrorCode.NONE)
    loc = lambda kind: (
        _f("ADDR", 0, 24, "RO", doc="word address inside the memory"),
        _f("MEM", 24, 5, "RO", doc="memory id (see the memory table)"),
        _f("VALID", 31, 1, "RO", doc=f"a {kind} has been recorded since reset or ECC_CTRL.CLEAR"),
    )
    regs = [
        Register("ID", 0x000, "Identification, reads 'CHMY'", (_f("VALUE", 0, 32, "RO", ID_VALUE, const=True),)),
        Register("VERSION", 0x004, "Contract version", (
            _f("PATCH", 0, 8, "RO", VERSION[2], const=True),
            _f("MINOR", 8, 8, "RO", VERSION[1], const=True),
            _f("MAJOR", 16, 8, "RO", VERSION[0], const=True))),
        Register("CAPS", 0x008, "Build-time capabilities", (
            _f("ECC", 0, 1, "RO", int(params.ecc), "SECDED and row CRC present", const=True),
            _f("DMA_BYTES", 8, 8, "RO", params.data_width // 8, "DMA data bus width in bytes", const=True),
            _f("ADDR_WIDTH", 16, 8, "RO", params.addr_width, "DMA address width in bits", const=True))),
        Register("CAP_NEIGHBOR", 0x00C, "Neighbor table rows", (_f("ROWS", 0, 32, "RO", params.n_neighbor, const=True),)),
        Register("CAP_PATH", 0x010, "Path table rows", (_f("ROWS", 0, 32, "RO", params.n_path, const=True),)),
        Register("CAP_TCP", 0x014, "TCP connection table rows", (_f("ROWS", 0, 32, "RO", params.n_tcp, const=True),)),
        Register("CAP_REQ", 0x018, "Request pool entries", (_f("ENTRIES", 0, 32, "RO", params.n_req, const=True),)),
        Register("SCRATCH", 0x01C, "Scratch register for bus tests", (_f("VALUE", 0, 32, "RW"),)),
        Register("CTRL", 0x020, "Control", (
            _f("ENABLE", 0, 1, "RW", doc="a CTRL write with 1 latches the ring configuration and starts the engine; 0 stops it after the current command"),
            _f("SCRUB_EN", 1, 1, "RW", doc="1: patrol scrubber runs between commands"),
            _f("RESET", 2, 1, "DB", doc="write 1: restart everything but the register file, as at power-on, once the DMA master has completed what it has on the bus"))),
        Register("STATUS", 0x024, "Engine status", (
            _f("ENABLED", 0, 1, "RO", doc="rings latched, engine running"),
            _f("BUSY", 1, 1, "RO", doc="a command is in progress"),
            _f("HALTED", 2, 1, "RO", doc="stopped after a DMA write error; needs CTRL.RESET"),
            _f("READY", 3, 1, "RO", doc="reset sequence finished (0 from a CTRL.RESET write until its table walk is done)"))),
        Register("SCRUB_INTERVAL", 0x028, "Cycles between patrol-scrub steps (one row or pool entry per step)",
                 (_f("CYCLES", 0, 32, "RW", params.scrub_interval),)),
        Register("SCRUB_CTRL", 0x02C, "Patrol scrubber control", (
            _f("PASS", 0, 1, "DB", doc="write 1: run one full pass now, between commands, at full speed"),
            _f("RECLAIM", 1, 1, "RWSC", doc="write 1: free the request-pool entries no live list reaches "
                                            "(one mark-and-sweep, between commands; not while halted); "
                                            "reads 1 until it is done"))),
        Register("IRQ_STATUS", 0x030, "Interrupt causes (write 1 to clear)",
                 tuple(_f(n, i, 1, "RW1C", doc=d) for i, (n, d) in enumerate(IRQ_BITS))),
        Register("IRQ_MASK", 0x034, "Interrupt enables: irq = |(IRQ_STATUS & IRQ_MASK)",
                 tuple(_f(n, i, 1, "RW") for i, (n, _) in enumerate(IRQ_BITS))),
        Register("ERR_STATUS", 0x038, "Error classes seen (bit n = ErrorCode n, write 1 to clear)", err_fields),
        Register("ERR_IRQ_MASK", 0x03C, "ERR_STATUS bits that set IRQ_STATUS.ERR", err_mask_fields),
        *_ring("CMDQ", 0x040, "Command ring", producer_is_host=True),
        *_ring("CPLQ", 0x060, "Completion ring", producer_is_host=False),
        *_ring("EVTQ", 0x080, "Event ring", producer_is_host=False),
        Register("ECC_CE_COUNT", 0x100, "Corrected single-bit errors (saturating)", (_f("COUNT", 0, 32, "RO"),)),
        Register("ECC_UE_COUNT", 0x104, "Uncorrectable errors and row-check failures (saturating)", (_f("COUNT", 0, 32, "RO"),)),
        Register("ECC_LAST_CE", 0x108, "Location of the last corrected error", loc("corrected error")),
        Register("ECC_LAST_CE_SYN", 0x10C, "Syndrome of the last corrected error", (_f("SYNDROME", 0, 8, "RO"),)),
        Register("ECC_LAST_UE", 0x110, "Location of the last uncorrectable error", loc("uncorrectable error")),
        Register("ECC_LAST_UE_SYN", 0x114, "Syndrome and kind of the last uncorrectable error", (
            _f("SYNDROME", 0, 8, "RO"),
            _f("KIND", 8, 2, "RO", doc="1: SECDED double error, 2: row CRC mismatch"))),
        Register("ECC_CTRL", 0x118, "ECC counter control", (_f("CLEAR", 0, 1, "DB", doc="write 1: clear counters and last-error registers"),)),
        Register("ERRINJ_CTRL", 0x120, "Error injection: flip ERRINJ_MASK bits in the next word written to MEM", (
            _f("ARM", 0, 1, "RWSC", doc="1: armed; the engine clears it when the flip is applied"),
            _f("MEM", 8, 5, "RW", doc="target memory id"))),
        Register("ERRINJ_MASK_LO", 0x124, "Injection mask, data bits 31:0", (_f("MASK", 0, 32, "RW"),)),
        Register("ERRINJ_MASK_HI", 0x128, "Injection mask, data bits 63:32", (_f("MASK", 0, 32, "RW"),)),
        Register("ERRINJ_MASK_ECC", 0x12C, "Injection mask, check bits 7:0", (_f("MASK", 0, 8, "RW"),)),
        Register("DMA_ERR_ADDR_LO", 0x140, "Address of the last failed DMA transaction, bits 31:0", (_f("ADDR", 0, 32, "RO"),)),
        Register("DMA_ERR_ADDR_HI", 0x144, "Address of the last failed DMA transaction, bits 63:32", (_f("ADDR", 0, 32, "RO"),)),
        Register("DMA_ERR_INFO", 0x148, "Last failed DMA transaction", (
            _f("RESP", 0, 2, "RO", doc="AXI response (2 SLVERR, 3 DECERR; 0 on timeout)"),
            _f("WRITE", 2, 1, "RO", doc="1: write, 0: read"),
            _f("TIMEOUT", 3, 1, "RO", doc="no response within the timeout"),
            _f("VALID", 31, 1, "RO"))),
        Register("QUARANTINED", 0x160, "Rows and pool entries withheld after losing their links", (_f("COUNT", 0, 32, "RO"),)),
        Register("SCRUB_PASSES", 0x164, "Completed patrol-scrub passes", (_f("COUNT", 0, 32, "RO"),)),
        Register("CMD_COUNT", 0x168, "Commands completed", (_f("COUNT", 0, 32, "RO"),)),
        Register("RECLAIMED", 0x16C, "Request-pool entries freed by SCRUB_CTRL.RECLAIM (saturating)",
                 (_f("COUNT", 0, 32, "RO"),)),
        *_windows(params),
    ]
    assert len(MEMORIES) <= 32
    return RegisterMap(regs)
