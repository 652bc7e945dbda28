"""The order in which a QUERY or TERMINATE list entry is checked, defined once.

`ENTRY_CHECKS` is walked in order by the reference model (`sw/model/engine.py`) and by
the RTL's decide stage (`rtl/decide.py`); the *QUERY and TERMINATE lists* list in
docs/interface.md is generated from it. The first check that fails decides the entry:
a refusal (`code`, nothing changes) or one of the hardware-failure outcomes.

Each check reads named **facts** (`FACTS`): the list entry's own fields, and once the row
has been read, its meta word and whether its state survived. Predicates are written with
operators that mean the same on Python ints and on Amaranth values (`==`, `!=`, `<`,
`<=`, `|` and `&` of one-bit results, `&` with a constant), so one lambda serves both;
never `not`/`and`/`or`/`~` (Python's `~True` is -2).

The one **disposition rule** for request records (`record_disposition`) is here too: the
RTL's request walker, the model and the driver's check of what it reads all use it.
"""

import enum
from dataclasses import dataclass
from typing import Callable, Optional

from .rows import GEN_BITS
from .status import Disposition, ErrorCode, ObjType, ReqKind
from .descriptors import ALIGN

__all__ = ["Outcome", "EntryCheck", "ENTRY_CHECKS", "FACTS", "first_failing", "aligned", "status_writable",
           "record_disposition", "DISPOSITIONS"]


class Outcome(enum.Enum):
    REFUSE = "refuse"               # refused: Status = ERROR_STATUS[code], the row is untouched
    META_LOST = "meta_lost"         # the meta word is unreadable: the row is poisoned
    FAILED_ROW = "failed_row"       # the row was already failed or poisoned
    STATE_LOST = "state_lost"       # data words, ident word or row CRC lost now: the row fails


#: name -> what it is. "entry" facts come from the list entry and the command, "row"
#: facts from the row's meta word (read with its ident and data words).
FACTS = {
    "terminate": ("entry", "1 for TERMINATE, 0 for QUERY"),
    "type": ("entry", "the handle's type field (0 is never valid)"),
    "index": ("entry", "the handle's index"),
    "gen": ("entry", "the handle's generation"),
    "rsvd": ("entry", "the handle's reserved bits"),
    "depth": ("entry", "rows in the table of `type` (0 for type 0)"),
    "status_addr": ("entry", "LIST_ENTRY.status_addr"),
    "state_addr": ("entry", "LIST_ENTRY.state_addr"),
    "req_addr": ("entry", "LIST_ENTRY.req_addr"),
    "status_win": ("entry", "the Status word lies inside a DMA window (chimney.contract.windows)"),
    "state_win": ("entry", "the delegated structure, up to the last byte written, lies inside a DMA window"),
    "req_win": ("entry", "the request header and `req_cap` records lie inside a DMA window"),
    "parent": ("entry", "LIST_ENTRY.parent"),
    "req_cap": ("entry", "LIST_ENTRY.req_cap"),
    "cmd_tag": ("entry", "CMD_COUNT while this command runs (what a free in it records)"),
    "meta_lost": ("row", "the meta word is uncorrectable"),
    "valid": ("row", "meta.valid"),
    "failed": ("row", "meta.failed"),
    "poisoned": ("row", "meta.poisoned"),
    "row_gen": ("row", "meta.gen"),
    "row_parent": ("row", "meta.u.live.parent (TCP: path, path: neighbor)"),
    "refcount": ("row", "meta.u.live.refcount (paths, neighbors)"),
    "req_count": ("row", "meta.u.live.req_count (TCP)"),
    "freed_tag": ("row", "meta.u.free.freed_tag"),
    "state_lost": ("row", "a data or ident word uncorrectable, or the row CRC wrong"),
}

GEN_MASK = (1 << GEN_BITS) - 1


def aligned(addr, align):
    """Contract *Addresses*: non-zero and a multiple of `align` (a power of two)."""
    return (addr != 0) & ((addr & (align - 1)) == 0)


def status_writable(f):
    """A refused entry's Status word is written only where this holds (the first check)."""
    return aligned(f.status_addr, ALIGN["status_addr"]) & (f.status_win == 1)


@dataclass(frozen=True)
class EntryCheck:
    name: str
    stage: str                          # "entry" or "row": which facts it reads
    applies: Callable                   # facts -> 1 when the check is made
    ok: Callable                        # facts -> 1 when it passes
    outcome: Outcome
    code: Optional[ErrorCode]           # the refusal's ErrorCode (REFUSE only)
    trusts_poisoned: bool               # a poisoned row skips it: its stored fields are unknown
    doc: str

    def fails(self, f):
        """Python evaluation on facts `f` (attributes named as in FACTS)."""
        if not self.applies(f):
            return False
        if self.trusts_poisoned and f.poisoned:
            return False
        return not self.ok(f)


def _always(f):
    return 1


TCP, PATH, NEIGHBOR = ObjType.TCP, ObjType.PATH, ObjType.NEIGHBOR

ENTRY_CHECKS = (
    EntryCheck("handle", "entry", _always,
               lambda f: (f.type != 0) & (f.rsvd == 0) & (f.index < f.depth),
               Outcome.REFUSE, ErrorCode.BAD_HANDLE, False,
               "the handle (type, range, reserved bits): `BAD_HANDLE`"),
    EntryCheck("status_addr", "entry", _always,
               lambda f: status_writable(f),
               Outcome.REFUSE, ErrorCode.BAD_ADDRESS, False,
               "`status_addr` (aligned, inside a DMA window): `BAD_ADDRESS`"),
    EntryCheck("state_addr", "entry", lambda f: f.type != PATH,
               lambda f: aligned(f.state_addr, ALIGN["state_addr"]) & (f.state_win == 1),
               Outcome.REFUSE, ErrorCode.BAD_ADDRESS, False,
               "for a TCP connection or neighbor, `state_addr` (aligned, the structure inside a DMA window): `BAD_ADDRESS`"),
    EntryCheck("req_addr", "entry", lambda f: (f.terminate == 1) & (f.type == TCP),
               lambda f: aligned(f.req_addr, ALIGN["req_addr"]) & (f.req_win == 1),
               Outcome.REFUSE, ErrorCode.BAD_ADDRESS, False,
               "for a TCP TERMINATE, `req_addr` (aligned, header and `req_cap` records inside a DMA window): `BAD_ADDRESS`"),
    EntryCheck("meta_word", "row", _always, lambda f: f.meta_lost == 0,
               Outcome.META_LOST, None, False,
               "the row's meta word can be read (else see *Hardware failure*)"),
    EntryCheck("duplicate", "row", lambda f: f.terminate == 1,
               lambda f: (f.valid == 1) | (f.row_gen != ((f.gen + 1) & GEN_MASK)) | (f.freed_tag != f.cmd_tag),
               Outcome.REFUSE, ErrorCode.DUPLICATE, True,
               "TERMINATE: the row was not freed by this command (generation + 1 and "
               "`freed_tag` = this command's CMD_COUNT): `DUPLICATE`"),
    EntryCheck("offloaded", "row", _always, lambda f: f.valid == 1,
               Outcome.REFUSE, ErrorCode.STALE_HANDLE, False,
               "offloaded: `STALE_HANDLE`"),
    EntryCheck("generation", "row", _always, lambda f: f.row_gen == f.gen,
               Outcome.REFUSE, ErrorCode.STALE_HANDLE, True,
               "the handle's generation: `STALE_HANDLE`"),
    EntryCheck("parent", "row", lambda f: f.type != NEIGHBOR, lambda f: f.parent == f.row_parent,
               Outcome.REFUSE, ErrorCode.PARENT, True,
               "`parent` equals the stored parent index: `PARENT`"),
    EntryCheck("order", "row", lambda f: (f.terminate == 1) & (f.type != TCP), lambda f: f.refcount == 0,
               Outcome.REFUSE, ErrorCode.ORDER, True,
               "TERMINATE of a path or neighbor: no offloaded dependents remain: `ORDER`"),
    EntryCheck("capacity", "row", lambda f: (f.terminate == 1) & (f.type == TCP),
               lambda f: f.req_count <= f.req_cap,
               Outcome.REFUSE, ErrorCode.CAPACITY, True,
               "TERMINATE of a TCP connection: its posted requests fit `req_cap`: `CAPACITY`"),
    EntryCheck("healthy", "row", _always, lambda f: (f.failed == 0) & (f.poisoned == 0),
               Outcome.FAILED_ROW, None, False,
               "not already failed or poisoned (else Status FAILURE again, see *Hardware failure*)"),
    EntryCheck("intact", "row", _always, lambda f: f.state_lost == 0,
               Outcome.STATE_LOST, None, False,
               "SECDED on its data and ident words and the row CRC over them (else the "
               "hardware-failure sequence starts)"),
)

assert [c.stage for c in ENTRY_CHECKS] == sorted((c.stage for c in ENTRY_CHECKS), key=("entry", "row").index)
assert all((c.outcome is Outcome.REFUSE) == (c.code is not None) for c in ENTRY_CHECKS)


def first_failing(facts, stage=None):
    """The first check of ENTRY_CHECKS (of `stage` only, if given) that `facts` fail, or None.

    `facts` is any object with the FACTS as attributes; a row fact is read only when an
    earlier check passed, so a lazy attribute (a property) is evaluated only when needed."""
    for check in ENTRY_CHECKS:
        if stage is not None and check.stage != stage:
            continue
        if check.fails(facts):
            return check
    return None


def record_disposition(kind, aborted):
    """What a request record tells the driver: every request of a connection whose state
    was lost is ABORTED (NDIS: complete with REQUEST_ABORTED); otherwise sends are handed
    back (RETURNED) and receives complete with UPLOAD_IN_PROGRESS."""
    if aborted:
        return Disposition.ABORTED
    return Disposition.RETURNED if ReqKind(kind) == ReqKind.SEND else Disposition.UPLOAD_IN_PROGRESS


#: (ReqKind, aborted) -> Disposition, every case: what hardware builds its lookup from.
DISPOSITIONS = {(kind, aborted): record_disposition(kind, aborted)
                for kind in ReqKind for aborted in (0, 1)}
