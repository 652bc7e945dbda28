"""The prose of docs/interface.md. Tables in braces are generated from the contract.

`export.interface_md` fills the tables ({registers}, {rows}, ...). The values below
(`VALUES`) come from contract constants too and are filled in here, so the prose never
repeats a number the contract already holds.
"""

from .descriptors import COMPLETION, NO_INDEX, MAX_POST_LENGTH, MAX_LIST_ENTRIES
from .ecc import DATA_BITS, CHECK_BITS, CODE_BITS, GUARD_POLY
from .params import EngineParams
from .ndis import WRITE_BACK, DELEGATED, row_field_name
from .rows import DATA, MEMORIES, GEN_BITS, TAG_BITS, guard_split, stored_width
from .status import ObjType, TcpConnectionState

import textwrap


def _ranges(offsets):
    """Sorted byte offsets -> "a-b, c" text."""
    out, run = [], []
    for o in sorted(offsets):
        if run and o != run[-1] + 1:
            out.append(run)
            run = []
        run.append(o)
    if run:
        out.append(run)
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in out)


def _zero_bytes(t):
    """The write-back bytes the engine writes as zero: padding, and members it does not hold."""
    wb, struct = WRITE_BACK[t], DELEGATED[t]
    covered = {o for _, off, size in wb.fields for o in range(off, off + size)}
    members = [(name, off, c.size) for name, off, c in struct.fields()
               if not name.startswith("Header.") and row_field_name(name) not in DATA[t]]
    member_bytes = {o for _, off, size in members for o in range(off, off + size)} - covered
    padding = set(range(wb.start, wb.end)) - covered - member_bytes
    return wb, struct, padding, member_bytes, members


def _deleg_zero_text():
    wb, struct, padding, member_bytes, members = _zero_bytes(ObjType.TCP)
    names = " / ".join(name for name, _, _ in members)
    return textwrap.fill(f"Of [{wb.start}, {wb.end}) of {struct.name} the engine writes every byte: the members "
            f"listed, and zeros in every byte that is no listed member: the padding bytes "
            f"{_ranges(padding)} and bytes {_ranges(member_bytes)} ({names}, host pointers and "
            f"backlog sizes the engine does not hold). The driver fills those after the completion "
            f"(the reference driver, for a TERMINATE: SendDataHead/SendDataTail = the chain of returned "
            f"sends, BufferedData = NULL). Bytes [0, {wb.start}) (the header) and "
            f"[{wb.end}, {struct.size}) are not written.", width=88)


_OPCODE_BITS = COMPLETION.field("opcode").width
_TAG_TEXT = ("the full 32-bit `CMD_COUNT`" if TAG_BITS >= 32
             else f"the low {TAG_BITS} bits of `CMD_COUNT`")

VALUES = {
    "no_index": f"0x{NO_INDEX:04X}",
    "max_post": MAX_POST_LENGTH,
    "max_post_plus1": MAX_POST_LENGTH + 1,
    "max_list": MAX_LIST_ENTRIES,
    "state_max": max(TcpConnectionState).value,
    "opcode_bits": _OPCODE_BITS,
    "opcode_example": f"0x85 comes back as {0x85 & ((1 << _OPCODE_BITS) - 1)}",
    "gen_bits": GEN_BITS,
    "tag_bits": TAG_BITS,
    "tag_text": _TAG_TEXT,
    "tag_cmp": ("this command's `CMD_COUNT`" if TAG_BITS >= 32
                else f"the low {TAG_BITS} bits of this command's `CMD_COUNT`"),
    "data_msb": DATA_BITS - 1,
    "check_msb": CODE_BITS - 1,
    "check_lsb": DATA_BITS,
    "check_bits": CHECK_BITS,
    "code_bits": CODE_BITS,
    "guarded": ", ".join(f"`{name}` ({i})" for i, (name, _, kind) in enumerate(MEMORIES)
                         if kind in ("meta", "pool")),
    "deleg_zero": _deleg_zero_text(),
}


def _guard_table(params=EngineParams()):
    rows = ["| memory | guard bits in the word | guard bits beside the 72 | stored width |", "|---|---|---|---|"]
    for name, _, _ in MEMORIES:
        split = guard_split(params, name)
        if split is not None:
            top = f"{DATA_BITS - split[0]}..{DATA_BITS - 1}" if split[0] else "none"
            beside = f"{CODE_BITS}..{CODE_BITS + split[1] - 1}" if split[1] else "none"
            rows.append(f"| `{name}` | {split[0]} (bits {top}) | {split[1]} (bits {beside}) | "
                        f"{stored_width(params, name)} |")
    return "\n".join(rows)


VALUES["guard_table"] = _guard_table()
VALUES["guard_poly"] = f"0x{GUARD_POLY:04X}"


def _entry_checks_text():
    """The numbered per-entry check list, from chimney.contract.checks.ENTRY_CHECKS."""
    from .checks import ENTRY_CHECKS
    lines = [f"{i}. {c.doc}{' (skipped for a poisoned row)' if c.trusts_poisoned else ''}"
             f"{'.' if i == len(ENTRY_CHECKS) else ';'}" for i, c in enumerate(ENTRY_CHECKS, 1)]
    return ("\n".join(lines) + "\n\nThe first check that fails decides the entry. A poisoned row's stored "
            "fields are unknown, so the checks marked *skipped for a poisoned row* trust the entry. "
            "The reference model and the RTL's decide stage both walk this list "
            "(`chimney.contract.checks.ENTRY_CHECKS`).")


VALUES["entry_checks"] = _entry_checks_text()


def _fill(template):
    for key, value in VALUES.items():
        template = template.replace("{" + key + "}", str(value))
    return template


SECTIONS = """\
# chimney hardware/software interface

<!-- Generated by `python -m chimney generate` from chimney/contract; edit the
     contract (or chimney/contract/interface_text.py), never this file. -->

This is the contract between the engine (`rtl/`) and a driver (`sw/` is the reference
driver). Everything below is generated from `chimney/contract`, which the RTL decode
and the driver import; build/regmap.json and build/chimney_regs.h carry the same facts
for other languages. Tables show the default build (64 neighbors, 256 paths, 1024 TCP
connections, 4096 request entries); widths that depend on table depths follow from them.

## Conventions

- The CSR window is AXI4-Lite, 32-bit registers, 4 KiB. Reads of unmapped offsets
  return 0 with SLVERR; writes to them are ignored with SLVERR. Offsets are decoded by
  word: the low two address bits are ignored (WSTRB selects the bytes written).
- Host memory is reached by an AXI4 master (INCR bursts of 8-byte beats, up to
  `max_burst` beats, 16 by default, that never cross a 4 KiB boundary; one ID). The
  data bus is 64 bits by default; built 128, 256 or 512 bits wide (`DMA_BYTES`) it
  issues narrow bursts (AxSIZE = 3, one 64-bit lane per beat by address). Every structure in host memory is
  little-endian. Addresses must be non-zero and aligned as listed under
  *Addresses*; anything else is refused with `BAD_ADDRESS`.
- Bits marked reserved are written as zero by the engine and ignored on input.

## Which Verilog to simulate

`python -m chimney generate` writes `chimney_engine.v` (the other files it writes and the
ports: docs/integration.md). Every simulator, lint and synthesis use that file as
written. Yosys gives each module a register `dump_module$N`, initialised to 0, that its
`always @*` blocks read so that they run at time zero; the Verilog standard leaves open
whether that initialiser runs before the blocks wait on it, and where it runs first
(Icarus under cocotb) those blocks stay X and the engine never takes its first command.
So the generator adds `initial #1 dump_module$N = 1;` after each such register, which
runs every block once more at time 1. The statement is simulation-only: it sits inside
`ifndef SYNTHESIS` (Yosys and Vivado define it), `ifndef VERILATOR` and a
`synthesis translate_off` pragma (`chimney.generate.simulator_safe`).

## Bring-up

1. After reset the engine clears its tables (one pass over the largest memory);
   `STATUS.READY` goes to 1 when done. Writing `CTRL.RESET=1` restarts everything but
   the register file, as at power-on: tables, ring indices, `seq`, `CMD_COUNT`, the
   ECC, scrub and quarantine counters, `DMA_ERR_*`, `STATUS.HALTED` and `ENABLED`.
   Register storage (ring bases and sizes, masks, `IRQ_STATUS`, `ERR_STATUS`, the last
   values written to doorbells) is kept; the driver clears the status registers and
   starts its ring indices at 0 again. It need not write 0 to `CMDQ_PROD`, `CPLQ_CONS`
   or `EVTQ_CONS`: the engine's own copies of those doorbells restart at 0 with its ring
   indices (the registers read back the last value written until the next write, and
   writing 0 is harmless). The first completion after a reset has `seq` 0. Every row is
   free with generation 0 again, so the driver forgets every handle it held. A write
   with both `RESET` and `ENABLE` set only resets: the engine stays disabled until
   `ENABLE=1` is written again. A reset may come at any time: the DMA master first
   completes every transaction it has on the bus (R beats taken and dropped, W bursts
   finished with WSTRB 0 for the beats not yet sent, every B awaited; after
   `dma_timeout` cycles without progress the bus is declared dead as for any timeout),
   and `STATUS.READY` reads 0 from the write until the table walk after it is done
   (integration.md, "Reset and bring-up").
2. The driver programs the three rings (`*_BASE_LO/HI`, `*_SIZE`) and, if it confines
   the engine, the DMA windows (*DMA windows*), clears the completion and event rings
   to zero, sets `IRQ_MASK`, then writes `CTRL.ENABLE=1`. The engine latches the ring
   configuration and the windows on that write (`STATUS.ENABLED`). A base that is zero
   or not 64-byte aligned, or a size outside 1..15, sets `ERR_STATUS.RING_CONFIG`, and a
   ring not inside one window sets `RING_CONFIG` and `BAD_ADDRESS`; the engine stays
   disabled. Writing `ENABLE=0` stops it after the current command.
   `ENABLE=1` latches only a disabled engine that is not halted; written while enabled
   or halted it changes nothing. Disabling and enabling again keeps the ring indices
   (`CMDQ_CONS`, `CPLQ_PROD`, `EVTQ_PROD` and the doorbell copies), `seq`, `CMD_COUNT`
   and the tables: only the ring bases and sizes and the windows are latched anew, and the engine goes
   on from the indices it had (only `CTRL.RESET` rewinds them).
3. Commands are submitted by writing descriptors into the command ring and the new
   producer index into `CMDQ_PROD`.

## Registers

{registers}

Memory ids, used by `ERRINJ_CTRL.MEM`, `ECC_LAST_*.MEM`, the name map written with the
Verilog and the fault injector:

{memories}

## Rings

All indices are free-running 16-bit counters; the slot is `index mod 2^SIZE`.

- **Command ring** (32-byte entries): the host writes entries and then `CMDQ_PROD`.
  The engine reads entries in order and advances `CMDQ_CONS` as it takes each one.
  A `CMDQ_PROD` write more than 2^SIZE ahead of `CMDQ_CONS` is ignored and sets
  `ERR_STATUS.CMDQ_OVERFLOW`.
- **Completion ring** (16-byte entries) and **event ring** (16-byte entries): the
  engine writes entries and advances `CPLQ_PROD` / `EVTQ_PROD`; the host consumes
  and writes `CPLQ_CONS` / `EVTQ_CONS`. The engine never overwrites an entry the host
  has not consumed: it waits for space. A consumer doorbell may move the consumer
  forward up to the producer: one that moves it back or past the producer is ignored
  and sets `ERR_STATUS.CONS_OVERRUN`. An entry is new when its `phase` bit equals
  the expected phase, which is 1 on the first pass over the ring and flips on each wrap.
- **Ordering across rings**: every completion and event carries `seq`, one
  counter shared by both rings, in the order the host stack must see them.
  A command's completion takes its `seq` when the command starts, so events that
  the command causes (Retrieve, Abort) come after it even though they may be
  written to memory first. The driver delivers entries strictly in `seq` order.
- All writes a command makes (status words, delegated state, request records) have
  completed (write responses received) before its completion entry is written, and
  the completion entry before the interrupt.

## Interrupt

`irq = |(IRQ_STATUS & IRQ_MASK)`, a level. `CPL` is set by each completion write,
`EVT` by each event write, `ERR` when an `ERR_STATUS` bit enabled in `ERR_IRQ_MASK`
is set. The host clears causes by writing 1s to `IRQ_STATUS`, then drains the rings.

## Handles

A handle (the block's MiniportOffloadContext) is returned by OFFLOAD:

{handle}

A row's generation is 0 after reset and goes up by one (modulo 2^{gen_bits}) each time the
row is freed; OFFLOAD hands out the row with its current generation, so the first
handle of every row has generation 0.

A handle is refused with `BAD_HANDLE` when its type is not 1..3, its reserved bits are
not zero, its type is not the one the command needs, or its index is outside the table
(OFFLOAD's parent handle is refused with `PARENT` for any of these);
with `STALE_HANDLE` when the row is not offloaded or its generation differs; with
`DUPLICATE` (TERMINATE only) when the row is free, not poisoned, its generation is one
past the handle's, and its `u.free.freed_tag` equals {tag_cmp}: that is,
this TERMINATE freed the row earlier in its list. A freed row stores {tag_text} of the
command that freed it, so a handle whose row an earlier command freed is told apart
(`STALE_HANDLE`) at any distance below 2^{tag_bits} commands; exactly a multiple of
2^{tag_bits} commands later it would read as `DUPLICATE`.

## Commands

{command}

{opcodes}

- **NOP**: completes with SUCCESS. Lets a driver test the rings.
- **OFFLOAD** (`obj_type`, `handle` = parent handle or 0 for a neighbor, `addr` = load
  block, `cookie` = host offload handle): reads the load block (the object's data words,
  exactly the data-row layout below), checks it (TCP `State` <= {state_max}), checks the parent
  (offloaded, not failed, right type), takes a free row, stores data words, ident
  (with the row CRC) and meta, adds one to the parent's reference count and completes
  with the new handle in `result`. No free row: `TABLE_FULL`.
- **POST_SEND / POST_RECV** (`handle`, `cookie`, `count` = length 1..{max_post}): appends a
  request to the connection's list, in posted order. A connection whose state was lost
  refuses it with `CONN_FAILED` (NDIS_STATUS_REQUEST_ABORTED: the driver completes the
  request at once); a full pool gives `TABLE_FULL`.
- **QUERY** (`addr` = list, `count` entries): writes each object's delegated variables
  and Status word; the objects stay offloaded.
- **TERMINATE** (`addr` = list, `count` entries): ends the offload of each object in
  list order, as described next.
- **UPDATE** (`obj_type`, `handle`, `addr` = load block): replaces the cached fields of
  a neighbor or path (see the row tables) and recomputes the row CRC. A TCP UPDATE
  changes nothing in the engine (the driver keeps TCP cached state) and succeeds.
  A failed object refuses it with `CONN_FAILED`.

Any other opcode completes with NDIS_STATUS_NOT_SUPPORTED (`BAD_OPCODE`). The completion's
`opcode` field keeps only the low {opcode_bits} bits of the command's opcode ({opcode_example},
completed as `BAD_OPCODE`): match completions to commands by `tag`.
Commands execute one at a time, in ring order. `CMD_COUNT` counts completed commands;
while a command runs it holds the number of commands completed before it, and a
TERMINATE stores {tag_text} in `u.free.freed_tag` of each row it frees (see *Handles*).

**Check order.** A command is checked in this order and refused at the first check that
fails; a refused command changes nothing unless noted, and its completion has
`err_index` = {no_index}, `detail` = the ErrorCode and `result` 0.

- **OFFLOAD**: (1) `obj_type` 1..3, else `BAD_HANDLE`; (2) `addr` (aligned, the block inside a
  DMA window): `BAD_ADDRESS`;
  (3) the parent handle: 0 for a neighbor; otherwise of the parent's type (path for TCP,
  neighbor for a path), reserved bits zero, index inside the table: `PARENT`; (4) the
  parent row's meta word: readable, offloaded, not failed or poisoned, same generation:
  `PARENT`; (5) the load block is read: a read error gives `DMA_READ`
  (DEVICE_DATA_ERROR); (6) TCP `State` <= {state_max}: `BAD_STATE`; (7) a free row: `TABLE_FULL`.
- **POST_SEND / POST_RECV**: (1) `handle`: type TCP, reserved bits zero, index inside the
  table: `BAD_HANDLE`; (2) `count` 1..{max_post} (0 and {max_post_plus1} or more: `BAD_LENGTH`);
  (3) the row's meta word (read with its ident word) cannot be read: the row is poisoned
  and gets its events (*Hardware failure*), `CONN_FAILED`; (4) not offloaded:
  `STALE_HANDLE`; (5) poisoned, whatever the generation: `CONN_FAILED`; (6) another
  generation: `STALE_HANDLE`; (7) failed: `CONN_FAILED`; (8) a free pool entry:
  `TABLE_FULL`; (9) when the list is not empty, its tail entry: lost, not in use or
  poisoned, the new entry is given back, the connection is marked failed and gets its
  events, `CONN_FAILED`.
- **UPDATE**: (1) `obj_type` 1..3 and a `handle` of that type, reserved bits zero, index
  inside the table: `BAD_HANDLE`; (2) `addr` (as OFFLOAD's): `BAD_ADDRESS`; (3)-(7) the meta-word
  checks of POST (3)-(7); (8) a TCP UPDATE succeeds here (its load block is not read);
  (9) the load block is read: `DMA_READ`; (10) the row's data words, ident word and row
  CRC: lost, the row is marked failed, `CONN_FAILED`.
- **QUERY / TERMINATE**: (1) `count` 1..{max_list}: `BAD_LENGTH`; (2) `addr` (the list: aligned,
  all `count` entries inside a DMA window): `BAD_ADDRESS`; then each entry, as below.

**Allocation.** Each table and the request pool keep a next-allocation pointer (0 after
reset). OFFLOAD and POST scan from it upwards, wrapping, for the first row (entry) that
is free and not quarantined, take it and move the pointer past it. A full scan without a
free row gives `TABLE_FULL`. A row whose meta word cannot be read, or a pool entry that
cannot be read, is skipped by the scan (counted by the ECC counters, not quarantined).
`count` 0 or above {max_entries} for a list gives `BAD_LENGTH`.

### QUERY and TERMINATE lists

{list_entry}

Entries are processed one at a time, in list order, each to completion before the
next; the driver lists dependents first (a path's TCP connections before the path, a
neighbor's paths before the neighbor). For each entry the engine checks, in this order:

{entry_checks}

A refused entry changes no row; its Status word is written with the refusal's NDIS
status when `status_addr` is usable, and the command goes on with the next entry.
The completion reports the first refusal (`detail`, `err_index`) and has status
INVALID_PARAMETER (or that refusal's status) if any entry was refused. `result`
counts the entries whose Status word is not SUCCESS.

An accepted entry of a healthy object: the engine reads its data words and ident word,
checks SECDED on each and the row CRC over them, and for a TCP TERMINATE walks its
request list. Then, in this order: request records, request header, delegated bytes,
Status = SUCCESS; TERMINATE frees the row (generation + 1), frees its request entries
and takes one off the parent's reference count.

**Request records** (TCP TERMINATE): sends are handed back (`RETURNED`, the driver
chains them into NetBufferListChain and SendDataHead/Tail in this order); receives
complete with `UPLOAD_IN_PROGRESS`. Records go to `req_addr + 8 + 8*i`, then the
header to `req_addr`:

{req_header}

{req_record}

{dispositions}

### Hardware failure

An uncorrectable error (SECDED, or the guard of a meta word or pool entry) in any word
of the object's row or request list, or a row-CRC mismatch, found by TERMINATE, QUERY or the patrol scrubber:

- the object's Status word is NDIS_STATUS_FAILURE and none of its delegated bytes are
  written (for a TCP TERMINATE the request header says 0 records);
- the row is marked failed and keeps its requests; a TCP connection gets two events,
  **Retrieve** with `info` = HardwareFailure (11), then **Abort**, ordered after the
  command's completion by `seq`;
- when a TERMINATE finds it, the connection also gives back its reference on its
  path (the meta word's `detached` bit), so a path or neighbor listed after it in the
  same TERMINATE can end; the connection's final terminate does not count it again.
  From then on the host sets the list entry's `detached` bit whenever it lists that
  connection: if the meta word is lost before the final terminate, the bit is the only
  record left that the reference was given back (the engine reads it only then, and only
  in a TCP entry; a host that sets it wrongly keeps its path's count one too high, so
  the path's TERMINATE is refused with ORDER, never ended early);
- further POSTs to it complete with REQUEST_ABORTED; QUERY gives FAILURE again;
- the host's next TERMINATE of that connection writes every still-tracked request as
  a record with disposition `ABORTED` (the driver completes each with
  NDIS_STATUS_REQUEST_ABORTED), the header, Status = FAILURE (its state is still lost:
  never a SUCCESS without delegated bytes), frees the row, then completes.

If the lost word is the meta word itself, the row's generation and links are unknown:
the row is rewritten as *poisoned* (failed, any generation accepted, the entry's
`parent` trusted), its request list is lost (the TERMINATE's request header says
`list_lost`; the driver completes the requests it still tracks with REQUEST_ABORTED),
and the row is withheld: `QUARANTINED` counts it when the lost meta word is found (by
a command or the scrubber), and its final terminate leaves it quarantined rather than
freed, without counting it again (a path or neighbor TERMINATE that finds its meta word
lost ends it at once: counted once). A lost pool entry is quarantined and counted the
same way, when found, and ends its connection's list. Entries that a lost word cuts off
from every list (a poisoned connection's whole list, the entries after a lost entry)
stay allocated, uncounted, until the host asks for them back: `SCRUB_CTRL.RECLAIM`
runs one mark-and-sweep between commands (commands wait meanwhile, about
6 x (TCP rows + walked entries + pool entries) cycles): every pool entry that the list of
an offloaded, unpoisoned connection reaches (from its head, as far as the engine's own
walk would go) is kept, and so is each such connection's tail entry; every other used,
unquarantined entry is freed and counted in `RECLAIMED`. `RECLAIM` reads 1 until the
sweep is done; it does not run while the engine is halted. The driver still completes
the cut-off requests from its shadow: reclaiming changes no list and posts no event.

**What POST notices.** POST reads the connection's meta and ident words and pool
entries, never its data words: a lost data word goes unnoticed by POST (it succeeds),
and a lost ident word is counted (`ECC_UE_COUNT`, `ERR_STATUS.ECC_UNCORRECTABLE`) but
fails nothing; the next QUERY, TERMINATE or scrub pass finds either. POST fails the
connection only for a lost meta word (poisoned) or a lost list tail (failed).

**Patrol scrubber.** With `CTRL.SCRUB_EN`, one row (or pool entry) every
`SCRUB_INTERVAL` cycles between commands, never split by a command; `SCRUB_CTRL.PASS` runs one whole pass at once (deterministic, for
tests). A pass visits, for the neighbor, path and TCP tables in turn, every row's meta
word and, only once that word says the row is offloaded and not failed, its ident and
data words and row CRC (a free row's ident and data words are never read by the
scrubber); then every request-pool entry. A corrected word is written back. A lost data or
ident word, or a CRC mismatch, marks the row failed; a lost meta word poisons the row;
a lost pool entry is quarantined. For a TCP row this posts Retrieve(HardwareFailure) and
Abort (for a poisoned row the event's handle carries generation 0: the driver matches
events by table index). `SCRUB_PASSES` counts finished passes.

**Paths and neighbors.** The host stack cannot be asked to terminate a path or
neighbor, so a lost path or neighbor row gives no events: the terminate that finds it
writes FAILURE and ends it (freed if its meta word is intact, quarantined if not); a
scrubber finding is reported in `ERR_STATUS` and the object fails at its terminate.
Its dependents are not affected: a TCP connection's state does not depend on the path
row, so those connections terminate with SUCCESS, and a dependent never changes the
reference count of a poisoned parent.

### Exactly what each command writes

Drivers and the reference model rely on these; co-verification compares them byte
for byte.

- Every command gets exactly one completion. `err_index` is `{no_index}` and `detail` 0
  unless a list entry was refused (then: the first refused entry) or the command itself
  was refused (then `detail` is its ErrorCode). `result`: OFFLOAD the new handle (0 if
  refused); QUERY/TERMINATE the number of entries whose Status is not SUCCESS, refused
  entries included; otherwise 0.
- QUERY/TERMINATE completion status: the first refusal's status if an entry was refused,
  DEVICE_DATA_ERROR if reading the list failed, else SUCCESS (per-object FAILURE is in
  the Status words and in `result`).
- A refused entry: only its Status word, if `status_addr` is non-zero and aligned.
- A QUERY entry: Status and, when SUCCESS, the delegated bytes.
- A TCP TERMINATE entry that is accepted: the request header always; records
  `0 .. count-1` after it; the delegated bytes only with SUCCESS; the Status word.
  Bytes of the request array past `count` records are undefined.
- Events for a connection that fails during a command carry the entry's handle; the
  `host_handle` is the stored one, or 0 if the ident word was lost.
- A DMA read error while reading list entry *k*: entries before *k* are done, nothing is
  written for *k* or after; the completion reports the read error (DEVICE_DATA_ERROR,
  `DMA_READ`, `err_index` = *k*) even if an earlier entry was refused.
- POST to a lost connection: the row is marked failed (poisoned if its meta word was
  lost) and its events are posted, exactly as for a TERMINATE that finds it.

### Completion and event entries

{completion}

{event}

Events: Retrieve (3) with `info` = TCP_UPLOAD_REASON, Abort (4).

## Status values

{ndis_status}

{errors}

A DMA read error while fetching a command descriptor has no tag to complete: the
engine sets `ERR_STATUS.DMA_READ` and `STATUS.HALTED` and stops, like a write error.
`DMA_WRITE` has no completion: a write that fails or times out leaves host memory
undefined, so the engine sets `ERR_STATUS.DMA_WRITE`, records the address in
`DMA_ERR_*`, raises `STATUS.HALTED` and stops until `CTRL.RESET`. A read answered with
SLVERR or DECERR (`DMA_READ`) ends the command: entries before `err_index` were
processed, the rest were not touched. It ends that command only: the list FIFO and
the read collector are emptied before the next command's first read, so the next
command starts with nothing left of it (the same for a load block).
A read that makes no progress for `dma_timeout` cycles sets `ERR_STATUS.DMA_READ` with
`DMA_ERR_INFO.TIMEOUT` = 1 and `RESP` = 0, and then, unlike an error response, halts the
engine as a failed write does (`STATUS.HALTED`, no completion for the command, until
`CTRL.RESET`): the bus still owes that transaction, so no further one may be issued
on it. `CTRL.RESET` does not wait for a dead bus; the interconnect behind it must be
recovered before commands run again.
`DMA_ERR_ADDR_*` holds an address inside the failed read or write, at or before its
first failing byte; it need not be the address of the failing list entry or structure
(the entry is `err_index`).

## Addresses

Non-zero and aligned to: ring bases 64 bytes; list, load block, `state_addr`,
`req_addr` 8 bytes; `status_addr` 4 bytes.

### DMA windows

An engine on a host bus without an IOMMU must not DMA wherever a buggy or hostile driver
points it. `WINn_BASE` / `WINn_LIMIT` (n = 0 .. `n_windows` - 1, a build parameter,
default 2) name inclusive byte ranges of whole 8-byte beats (a base's bits 2:0 read 0, a
limit's read 1); a window with base > limit is empty. After reset window 0 is every
address the DMA bus can name (all of memory when `addr_width` is 64, else
[0, 2^`addr_width` - 1], so a narrower build refuses an address with bits above its bus
instead of truncating it) and the others are empty.
The driver programs them before `CTRL.ENABLE`; the engine latches them with the ring
configuration, and host writes to them are ignored (answered OKAY) while
`STATUS.ENABLED` reads 1. Every access the engine is given must lie in one window, its
first byte and its last (`chimney.contract.windows`):

| Address | Bytes checked | Outside |
|---|---|---|
| ring bases | the whole ring (entry size << `LOG2`) | `CTRL.ENABLE` refused: `ERR_STATUS.RING_CONFIG` and `BAD_ADDRESS`, not enabled |
| QUERY/TERMINATE list | 32 × `count` | the command: `BAD_ADDRESS`, nothing read |
| OFFLOAD/UPDATE load block | 8 × the object's data words (TCP 80, path 8, neighbor 16) | the command: `BAD_ADDRESS`, nothing read |
| `status_addr` | 4 | the entry: `BAD_ADDRESS`, no Status word written |
| `state_addr` (TCP, neighbor) | from the header to the last byte written back (TCP 124, neighbor 12) | the entry: `BAD_ADDRESS` |
| `req_addr` (TCP TERMINATE) | 8 + 8 × `req_cap` | the entry: `BAD_ADDRESS` |

The window checks are part of the address checks, in the same place of the check order
(*QUERY and TERMINATE lists* and the OFFLOAD/UPDATE orders above). So the engine never
issues an AR or AW outside the windows it latched: every cocotb and Amaranth-sim run
checks each burst against them (tb/axi_monitor.py).

## Delegated state written back

{write_back}

{deleg_zero}

## State table rows

Each row is data words (CRC-covered), one ident word and one meta word, each stored
as {code_bits} bits: data in bits {data_msb}:0, SECDED check bits in {check_msb}:{check_lsb}; meta words and
pool entries also carry a guard (*ECC and error injection*). The load block of OFFLOAD
and UPDATE is the data words exactly as below.

{rows}

## ECC and error injection

Every stored word is a ({code_bits},{check_lsb}) Hsiao SECDED codeword, data in bits {data_msb}:0 and the
{check_bits} check bits in {check_msb}:{check_lsb}: single-bit errors are corrected
(`ECC_CE_COUNT`, `ECC_LAST_CE*`) and the corrected word is written back; double-bit
errors are detected (`ECC_UE_COUNT`, `ECC_LAST_UE*`). Because three or more flips can
look like one, each row also holds a CRC-32C over its data words and host handle,
checked whenever state leaves the engine; a mismatch counts as uncorrectable.
The parity-check matrix is in build/regmap.json. `ECC_LAST_UE_SYN.KIND` says what
found the last uncorrectable error:

| KIND | found by | `ECC_LAST_UE` / `SYNDROME` |
|---|---|---|
| 1 | SECDED | the word's memory and address; its syndrome |
| 2 | row CRC | `MEM` = the row's data memory, `ADDR` = the row index (not a word address); `SYNDROME` 0 |
| 3 | guard (meta words and pool entries, below): SECDED alone would have taken the word | the word's memory and address; its SECDED syndrome (0 if SECDED saw nothing) |

**Guard on meta words and pool entries.** Meta words and request-pool entries
({guarded}) have no row CRC, so each is stored with SECDED plus 16 guard
check bits computed from the word: as many as its layout leaves free at the top of the
word, the rest in extra RAM bits beside the {code_bits}. A read corrects a
single flipped bit anywhere; any other damage the guard sees is uncorrectable (KIND 3)
and runs the sequence of *Hardware failure* exactly like an uncorrectable SECDED error
(a lost meta word poisons its row, a lost pool entry is quarantined), so a multi-bit
error that SECDED alone would "correct" into another valid-looking word is detected.

The guard is 16 check bits of a shortened cyclic code (generator {guard_poly}, CRC-16/DNP):
the column of payload bit j is x^(16+j) mod g(x) (`guard.columns` in build/regmap.json).
Its bits 0..k-1 take the word's top k free bits, the rest are stored from bit {code_bits}
up; the SECDED check bits cover the 64-bit word, guard bits in it included. Clients
never see guard bits: they read as zero and are ignored on write. Together with SECDED
the code has minimum distance 6: every error of 2 to 4 bits is detected, and a wider
one passes only if it lands within one bit of another codeword (about 89 in 2^24 for a
random word). Where the default build keeps it (from `chimney.contract.guard_split`;
other depths change the split):

{guard_table}

`ERRINJ_MASK_*` reach the first {code_bits} bits only; a guard bit beside them flipped
by anything else is corrected like any other single bit.

**The ECC counters report RAM health, not object failures.** They count reads, whatever
the reader then decides. A QUERY or TERMINATE entry that passes its handle and address
checks reads its row's meta, ident and data words at once (the ident and data words
while the meta word is checked): a stale handle that names a free row whose ident or
data word is damaged counts in `ECC_UE_COUNT` and `ECC_LAST_UE` and sets
`ERR_STATUS.ECC_UNCORRECTABLE` though no object fails. POST reads the meta and ident
words and the pool entries it passes, UPDATE the meta and ident words and, once the
meta checks pass, the data words; OFFLOAD reads its parent's meta word and the meta
words its scan passes. The scrubber reads a row's ident and data words only after its meta word says the row is
offloaded and not failed.

To test a board: set `ERRINJ_MASK_*` to the bits to flip (`ERRINJ_MASK_LO`/`HI`: data
bits {data_msb}:0, `ERRINJ_MASK_ECC`: check bits {check_msb}:{check_lsb}), set `ERRINJ_CTRL.MEM` and `ARM`; the
next word written to that memory is stored with those bits flipped and `ARM` clears.
"""

SECTIONS = _fill(SECTIONS)
