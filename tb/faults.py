"""Fault injection into the RTL's state RAM and registers, located through the name map.

`chimney generate` writes `<top>.names.json` next to the Verilog; it says where each
ECC memory array and each probed register (the engine FSM state) lives. Values are
deposited (written), never forced: Verilator ignores Force, and a deposit is what a
particle strike does anyway. Works on Icarus and Verilator alike.
"""

import random
from dataclasses import dataclass

from chimney.contract import MEMORIES, memory_depth, stored_width, word_code
from chimney.contract.ecc import DATA_BITS, EccStatus


def decode_stored(word, params, mem):
    """A stored word as the engine would use it: (EccStatus, 64-bit data, bits above the
    stored width). Decoded with the memory's own code (`chimney.contract.word_code`:
    SECDED, and the guard on meta words and pool entries)."""
    code = word_code(params, mem)
    if code is None:
        return EccStatus.OK, word & ((1 << DATA_BITS) - 1), word >> DATA_BITS
    data, status = code.decode(word & ((1 << code.width) - 1))[:2]
    return status, data, word >> code.width


@dataclass(frozen=True)
class Fault:
    """One injection: `mem` (memory name) or `signal` (probe name), an address, a mask
    (bits to flip) or a whole new value."""
    kind: str                  # single | double | triple | word | fsm | meta_multi | meta_word
    target: str                # memory name, or probe name for kind == "fsm"
    addr: int = 0
    mask: int = 0
    value: int = None          # whole-word corruption / FSM state value

    def describe(self):
        if self.kind == "fsm":
            return f"fsm {self.target} := {self.value}"
        what = f"value {self.value:#x}" if self.value is not None else f"mask {self.mask:#x}"
        return f"{self.kind} {self.target}[{self.addr}] {what}"


class _Word:
    """One stored word as a deposit target: `.value` reads and writes it where it is."""

    def __init__(self, faults, mem, addr):
        self._faults, self._mem, self._addr = faults, mem, addr

    @property
    def value(self):
        return self._faults.peek(self._mem, self._addr)

    @value.setter
    def value(self, value):
        self._faults.poke(self._mem, self._addr, value)


class _Words:
    """`array(mem)[addr]`: word-addressed, across the memory's banks."""

    def __init__(self, faults, mem):
        self._faults, self._mem = faults, mem

    def __getitem__(self, addr):
        return _Word(self._faults, self._mem, addr)


class RtlFaults:
    """Word-addressed access to the RTL's memories through the name map: a memory may be
    stored in several banks (`banks`, each with the first word it holds), and a word the
    memory is about to write is in its write register (`write_register`), where a deposit
    must go too or the pending write would overwrite it (rtl/eccmem.py)."""

    def __init__(self, dut, name_map):
        self.dut = dut
        self.names = name_map

    def _handle(self, path):
        h = self.dut
        for part in path.split("."):
            h = getattr(h, part)
        return h

    def _row(self, mem, addr):
        for bank in self.names["memories"][mem]["banks"]:
            if bank["base"] <= addr < bank["base"] + bank["depth"]:
                return self._handle(bank["path"])[addr - bank["base"]]
        raise IndexError(f"{mem}[{addr}]: no bank holds that word")

    def _pending(self, mem, addr):
        """The write register's data handle when it holds word `addr`, else None."""
        reg = self.names["memories"][mem].get("write_register")
        if reg and int(self._handle(reg["en"]).value) and int(self._handle(reg["addr"]).value) == addr:
            return self._handle(reg["code"])
        return None

    def array(self, mem):
        return _Words(self, mem)

    def peek(self, mem, addr):
        pending = self._pending(mem, addr)
        return int((pending if pending is not None else self._row(mem, addr)).value)

    def poke(self, mem, addr, value):
        pending = self._pending(mem, addr)
        if pending is not None:
            pending.value = value
        self._row(mem, addr).value = value

    def flip(self, mem, addr, mask):
        old = self.peek(mem, addr)
        self.poke(mem, addr, old ^ mask)
        return old

    def signal(self, name):
        return self._handle(self.names["signals"][name]["path"])

    def apply(self, fault: Fault):
        if fault.kind == "fsm":
            self.signal(fault.target).value = fault.value
        elif fault.value is not None:
            self.poke(fault.target, fault.addr, fault.value)
        else:
            self.flip(fault.target, fault.addr, fault.mask)


def random_mask(rng, bits, width=72):
    return sum(1 << b for b in rng.sample(range(width), bits))


#: The default classes, used round-robin (injection i gets class i % len(classes)): this
#: tuple and its order fix what every existing (seed, i) means, so it stays as it is.
FAULT_CLASSES = ("single", "double", "triple", "word", "fsm")
#: Meta words of offloaded rows and in-use request-pool entries only (issue 11): 3..8
#: random distinct bits over the whole stored width, or the whole stored word replaced.
#: Selected with --classes; not in the default round-robin (that would renumber it).
META_CLASSES = ("meta_multi", "meta_word")
ALL_CLASSES = FAULT_CLASSES + META_CLASSES


def make_fault(rng: random.Random, kind, params, name_map, *, mem=None, addr=None):
    """A fault of class `kind`; memory and address random unless given."""
    if kind == "fsm":
        enc = name_map["signals"]["engine.state"]
        width = enc["width"]
        return Fault("fsm", "engine.state", value=rng.randrange(1 << width))
    if kind in META_CLASSES:
        if mem is None:            # no live target given: any meta word or pool entry
            mem = rng.choice([n for n, _, k in MEMORIES if k in ("meta", "pool")])
        addr = rng.randrange(memory_depth(params, mem)) if addr is None else addr
        width = stored_width(params, mem)
        if kind == "meta_word":
            return Fault("meta_word", mem, addr, value=rng.getrandbits(width))
        return Fault("meta_multi", mem, addr, mask=random_mask(rng, rng.randint(3, 8), width))
    mem = mem or rng.choice([n for n, _, _ in MEMORIES])
    addr = rng.randrange(memory_depth(params, mem)) if addr is None else addr
    # the classes of the first campaigns flip bits of the 72-bit SECDED codeword: kept at
    # 72 so every existing (seed, i) draws the same fault
    width = 72 if params.ecc else 64
    if kind == "word":
        return Fault("word", mem, addr, value=rng.getrandbits(width))
    bits = {"single": 1, "double": 2, "triple": 3}[kind]
    return Fault(kind, mem, addr, mask=random_mask(rng, bits, width))


# --- when a fault lands ------------------------------------------------------------------
#: The injection points of the first campaigns, in their order. With `points=LEGACY_POINTS`
#: every existing (seed, i) draws exactly the injection it drew then (the issue-11
#: regression cases rely on it).
LEGACY_POINTS = ("after_offload", "after_query", "during_terminate")
#: Every point (the default): the legacy three, then a fault landing at a random cycle
#: inside the offload, the posts, the query, or a patrol-scrub pass.
POINTS = LEGACY_POINTS + ("during_offload", "during_post", "during_query", "during_scrub")
#: The moment of a point: what the engine was doing when the fault landed.
MOMENT = {"after_offload": "idle", "after_query": "idle", "during_offload": "offload",
          "during_post": "post", "during_query": "query", "during_terminate": "terminate",
          "during_scrub": "scrub"}
MOMENTS = ("idle", "offload", "post", "query", "terminate", "scrub")


def fault_fields(fault: Fault, old=None):
    """The record's memory, address and bits of one fault: for a memory fault the stored
    bit positions it changed (`old`: the word before, for a whole-word value), for an
    FSM fault the state register's name and the value written."""
    if fault.kind == "fsm":
        return {"memory": fault.target, "address": None, "bits": None, "value": fault.value}
    changed = fault.mask if fault.value is None else (fault.value ^ old if old is not None else None)
    bits = None if changed is None else [b for b in range(changed.bit_length()) if changed >> b & 1]
    return {"memory": fault.target, "address": fault.addr, "bits": bits}


def coverage_bins(classes, memories, moments=MOMENTS):
    """The functional-coverage bins of a campaign: (class, memory, moment) for every
    memory a class can hit (the meta classes only meta words and pool entries, the
    FSM class only the engine's state register)."""
    bins = []
    for kind in classes:
        if kind == "fsm":
            targets = ["engine.state"]
        elif kind in META_CLASSES:
            targets = [n for n, _, k in memories if k in ("meta", "pool")]
        else:
            targets = [n for n, _, _ in memories]
        bins += [(kind, mem, moment) for mem in targets for moment in moments]
    return bins
