"""The engine's ten ECC-protected memories, stored exactly like the RTL stores them.

Every word is stored as its memory's `WordCode` stores it (`chimney.contract.ecc`): a
(72,64) SECDED codeword, meta words and pool entries with the 16-bit guard as well
(`chimney.contract.word_code`). Addressing:
data memories `row * data_words + w`, ident and meta memories `row`, the request pool
`entry`. Every read goes through `ecc_decode`:

* CORRECTED: the corrected word is written back (the memory's own write-back: an
  armed ERRINJ does not apply to it, only client writes are injected),
  `ECC_CE_COUNT` += 1, `ECC_LAST_CE*` record it and `ERR_STATUS.ECC_CORRECTED` is set;
* UNCORRECTABLE: `ECC_UE_COUNT` += 1, `ECC_LAST_UE*` (KIND 1, or 3 when the guard found it) and
  `ERR_STATUS.ECC_UNCORRECTABLE`; the caller decides what the loss means.

A row-CRC mismatch is counted as uncorrectable with KIND 2 by `crc_mismatch()`.
"""

from dataclasses import dataclass, field

from chimney.contract import (EngineParams, ErrorCode, ObjType, MEMORIES, MEMORY_ID, IDENT,
                              data_words, memory_depth, meta_layout, pool_layout, word_code)
from chimney.contract.ecc import EccStatus, UeKind

M64 = (1 << 64) - 1
M72 = (1 << 72) - 1
SAT32 = 0xFFFFFFFF

UE_KIND_SECDED = int(UeKind.SECDED)
UE_KIND_CRC = int(UeKind.CRC)


@dataclass
class Meta:
    """A decoded meta word. `live` fields mean something only when `valid`."""
    valid: int = 0
    failed: int = 0
    poisoned: int = 0
    detached: int = 0        # TCP: the path reference was released when the failure was found
    gen: int = 0
    parent: int = 0          # TCP: path index; path: neighbor index
    refcount: int = 0        # path: TCP connections; neighbor: paths
    req_head: int = 0        # TCP only
    req_tail: int = 0
    req_count: int = 0
    freed_tag: int = 0       # when not valid: CMD_COUNT (32 bits) of the freeing command

    @property
    def free(self):
        """Free for allocation: not offloaded and not quarantined."""
        return not self.valid and not self.poisoned

    @property
    def quarantined(self):
        return not self.valid and self.poisoned


@dataclass
class PoolEntry:
    used: int = 0
    poisoned: int = 0
    cookie: int = 0
    length: int = 0
    kind: int = 0
    next: int = 0

    @property
    def free(self):
        return not self.used and not self.poisoned


@dataclass
class EccLog:
    ce_count: int = 0
    ue_count: int = 0
    last_ce: tuple = None        # (mem_id, addr, syndrome)
    last_ue: tuple = None        # (mem_id, addr, syndrome, kind)
    err_bits: list = field(default_factory=list)


class Tables:
    """Memories + ECC bookkeeping. `on_error(code)` is called for each ERR_STATUS bit set."""

    def __init__(self, params: EngineParams, on_error):
        self.params = params
        self.on_error = on_error
        self.ecc = params.ecc
        self.depth = {name: memory_depth(params, name) for name, _, _ in MEMORIES}
        self._kinds = {name: (t, kind) for name, t, kind in MEMORIES}
        self.meta_lay = {t: meta_layout(params, t) for t in ObjType}
        self.pool_lay = pool_layout(params)
        self.codes = {name: word_code(params, name) for name in self.depth}
        self.width = {name: 64 if c is None else c.width for name, c in self.codes.items()}
        #: callable(mem_id) -> 72-bit mask to flip in the word being written (ERRINJ), or 0
        self.injector = None
        self.clear()

    # --- whole-memory operations ------------------------------------------
    def clear(self, power_on=True):
        """Power-on: every word of every memory is the codeword of 0. The reset pass
        (CTRL.RESET, `power_on=False`) rewrites every meta word and pool entry as 0
        ("free, generation 0"), as the RTL's walker does; data and ident words keep
        what they hold (nothing reads them before an OFFLOAD rewrites them)."""
        zero = 0                                   # the all-zero word is a codeword of every WordCode
        if power_on or not hasattr(self, "mem"):
            self.mem = {name: [zero] * d for name, d in self.depth.items()}
        else:
            for name, (_, kind) in self._kinds.items():
                if kind in ("meta", "pool"):
                    self.mem[name] = [zero] * self.depth[name]
        self.log = EccLog()

    def clear_counters(self):
        self.log = EccLog()

    # --- raw access (fault hooks use these; no ECC, no counting) ------------
    def peek(self, name, addr):
        return self.mem[name][addr]

    def poke(self, name, addr, code):
        self.mem[name][addr] = code & ((1 << self.width[name]) - 1)

    # --- word access ---------------------------------------------------------
    def write(self, name, addr, data):
        """Store 64-bit data with its check bits; an armed ERRINJ for this memory flips bits."""
        code = self.codes[name].encode(data & M64) if self.ecc else data & M64
        if self.injector is not None:
            code ^= self.injector(MEMORY_ID[name]) & M72       # ERRINJ reaches the first 72 bits
        self.mem[name][addr] = code

    def read(self, name, addr):
        """64-bit data or None when the word is uncorrectable. Corrections are written back."""
        code = self.mem[name][addr]
        if not self.ecc:
            return code & M64
        data, status, syn, kind, fixed = self.codes[name].decode(code)
        if status == EccStatus.OK:
            return data
        mem_id = MEMORY_ID[name]
        if status == EccStatus.CORRECTED:
            self.log.ce_count = min(self.log.ce_count + 1, SAT32)
            self.log.last_ce = (mem_id, addr, syn)
            self.on_error(ErrorCode.ECC_CORRECTED)
            # scrub-on-read: store the corrected word. This is the memory's own write-back,
            # not a client write: an armed ERRINJ does not apply to it (as in rtl/eccmem.py).
            self.mem[name][addr] = fixed
            return data
        self.log.ue_count = min(self.log.ue_count + 1, SAT32)
        self.log.last_ue = (mem_id, addr, syn, int(kind))
        self.on_error(ErrorCode.ECC_UNCORRECTABLE)
        return None

    def crc_mismatch(self, obj_type, row):
        """Record a row-CRC mismatch: counted as uncorrectable, KIND 2, syndrome 0.
        DECISION (as the RTL): located at the row's data memory, ADDR = row index."""
        self.log.ue_count = min(self.log.ue_count + 1, SAT32)
        self.log.last_ue = (MEMORY_ID[self.name(obj_type, "data")], row, 0, UE_KIND_CRC)
        self.on_error(ErrorCode.ECC_UNCORRECTABLE)

    # --- names -------------------------------------------------------------------
    @staticmethod
    def name(obj_type, kind):
        return {ObjType.NEIGHBOR: "neighbor", ObjType.PATH: "path", ObjType.TCP: "tcp"}[ObjType(obj_type)] + "_" + kind

    def rows(self, obj_type):
        return self.params.depth(obj_type)

    # --- meta words ------------------------------------------------------------
    def decode_meta(self, obj_type, word):
        lay = self.meta_lay[ObjType(obj_type)]
        raw = lay.unpack(word, variant={"u": "live"})
        m = Meta(valid=raw["valid"], failed=raw["failed"], poisoned=raw["poisoned"], detached=raw["detached"],
                 gen=raw["gen"])
        if m.valid:
            for k, v in raw["u"][1].items():
                setattr(m, k, v)
        else:
            m.freed_tag = lay.unpack(word, variant={"u": "free"})["u"][1]["freed_tag"]
        return m

    def encode_meta(self, obj_type, m: Meta):
        lay = self.meta_lay[ObjType(obj_type)]
        if m.valid:
            live = {}
            for name, _, f in lay.field("u").variants["live"]:
                live[name] = getattr(m, name) & ((1 << f.width) - 1)     # stored as wide as the field
            u = ("live", live)
        else:
            u = ("free", {"freed_tag": m.freed_tag})
        return lay.pack(valid=m.valid, failed=m.failed, poisoned=m.poisoned, detached=m.detached, gen=m.gen, u=u)

    def read_meta(self, obj_type, row):
        word = self.read(self.name(obj_type, "meta"), row)
        return None if word is None else self.decode_meta(obj_type, word)

    def write_meta(self, obj_type, row, m: Meta):
        self.write(self.name(obj_type, "meta"), row, self.encode_meta(obj_type, m))

    # --- data and ident words ------------------------------------------------------
    def read_data(self, obj_type, row):
        """All data words of a row, in order; None for each lost word."""
        n = data_words(obj_type)
        name = self.name(obj_type, "data")
        return [self.read(name, row * n + w) for w in range(n)]

    def write_data(self, obj_type, row, value):
        n = data_words(obj_type)
        name = self.name(obj_type, "data")
        for w in range(n):
            self.write(name, row * n + w, value >> (64 * w) & M64)

    def read_ident(self, obj_type, row):
        word = self.read(self.name(obj_type, "ident"), row)
        return None if word is None else IDENT.unpack(word)

    def write_ident(self, obj_type, row, host_handle, crc):
        self.write(self.name(obj_type, "ident"), row, IDENT.pack(host_handle=host_handle, crc=crc))

    # --- request pool ---------------------------------------------------------------
    def decode_entry(self, word):
        return PoolEntry(**self.pool_lay.unpack(word))

    def encode_entry(self, e: PoolEntry):
        return self.pool_lay.pack(used=e.used, poisoned=e.poisoned, cookie=e.cookie,
                                  length=e.length, kind=e.kind, next=e.next)

    def read_entry(self, index):
        word = self.read("req_pool", index)
        return None if word is None else self.decode_entry(word)

    def write_entry(self, index, e: PoolEntry):
        self.write("req_pool", index, self.encode_entry(e))
