"""RefEngine: a transaction-level model of the chimney engine (the golden reference).

It implements the contract of docs/interface.md and is itself a `chimney.sw.bus.Device`
over the contract's register map, so the driver runs on it unchanged. There are no
cycles: commands run synchronously when a register write makes progress possible
(CMDQ_PROD, CTRL.ENABLE, CPLQ_CONS / EVTQ_CONS freeing space, SCRUB_CTRL.PASS).

Reading guide: `_run` is the engine's main loop; one `_cmd_*` method per opcode;
`_list_entry` holds the per-entry check order of QUERY/TERMINATE; `_scrub_rows` is
the patrol scrubber. Decisions where the contract is silent are marked DECISION and
collected in docs/notes-refmodel.md.
"""

from collections import deque
from dataclasses import dataclass

from chimney.contract import (
    EngineParams, ErrorCode, ERROR_STATUS, NdisStatus, ObjType, Opcode, ReqKind, Disposition,
    TcpEventType, TcpUploadReason, COMMAND, COMPLETION, EVENT, LIST_ENTRY, REQ_HEADER,
    REQ_RECORD, COMMAND_BYTES, COMPLETION_BYTES, EVENT_BYTES, LIST_ENTRY_BYTES,
    REQ_HEADER_BYTES, NO_INDEX, MAX_POST_LENGTH, MAX_LIST_ENTRIES, ALIGN,
    DATA, WRITE_BACK, register_map, make_handle, split_handle, data_words,
    cached_mask,
)
from chimney.contract.checks import Outcome, first_failing, record_disposition, status_writable
from chimney.contract import windows as win
from chimney.contract.ecc import row_crc
from chimney.sw.bus import BusError, DeviceTimeout

from .tables import Tables, Meta, PoolEntry, M64

M16 = 0xFFFF
M32 = 0xFFFFFFFF
#: The completion's opcode field is 4 bits wide; longer opcodes are truncated (DECISION).
OPCODE_FIELD_MASK = 0xF
PARENT_TYPE = {ObjType.PATH: ObjType.NEIGHBOR, ObjType.TCP: ObjType.PATH}


class _Halt(Exception):
    """A DMA write failed (or the command ring could not be read): the engine stops."""


class _DmaReadError(Exception):
    pass


@dataclass
class _Done:
    """How a command ends: the completion's status, result, err_index and detail."""
    status: int = NdisStatus.SUCCESS
    result: int = 0
    err_index: int = NO_INDEX
    detail: int = 0


@dataclass
class DmaFault:
    """Host-memory range [lo, hi) whose DMA accesses fail (fault-injection hook)."""
    lo: int
    hi: int
    read: bool = True
    write: bool = True
    resp: int = 2              # AXI response reported in DMA_ERR_INFO (2 SLVERR, 3 DECERR)
    timeout: bool = False      # report as a timeout (RESP 0, TIMEOUT 1)


def _aligned(addr, align):
    """Contract *Addresses*: non-zero and aligned."""
    return addr != 0 and addr % align == 0


class _EntryFacts:
    """The facts `chimney.contract.checks` reads, for one list entry: the entry's own
    now, the row's after `read_row`; `state_lost` (the row CRC, which counts an
    uncorrectable error when it fails) is computed only if a check asks for it."""

    def __init__(self, engine, e, terminate):
        self._engine = engine
        t, idx, gen, rsvd = split_handle(e["handle"])
        self.terminate, self.type, self.index, self.gen, self.rsvd = int(terminate), t, idx, gen, rsvd
        self.depth = engine.params.depth(ObjType(t)) if t in (1, 2, 3) else 0
        if t in (1, 2, 3):
            self.type = ObjType(t)
        for name in ("status_addr", "state_addr", "req_addr", "parent", "req_cap"):
            setattr(self, name, e[name])
        # the DMA windows' verdicts (rtl/windows.py EntryWindows: computed for every entry)
        ws = engine._windows
        self.status_win = int(win.in_any(e["status_addr"], win.STATUS_SPAN, ws))
        self.state_win = int(win.in_any(e["state_addr"], win.state_span(t if t == ObjType.TCP else ObjType.NEIGHBOR), ws))
        self.req_win = int(win.in_any(e["req_addr"], win.req_span(e["req_cap"]), ws))
        self.cmd_tag = engine.cmd_count

    def read_row(self, m, ident, words):
        self._ident, self._words = ident, words
        self.meta_lost = int(m is None)
        m = m or Meta()
        self.valid, self.failed, self.poisoned = m.valid, m.failed, m.poisoned
        self.row_gen, self.row_parent, self.refcount = m.gen, m.parent, m.refcount
        self.req_count, self.freed_tag = m.req_count, m.freed_tag

    @property
    def data(self):
        if not hasattr(self, "_data"):
            self._data = self._engine._row_data(self.type, self.index, self._ident, self._words)
        return self._data

    @property
    def state_lost(self):
        return int(self.data is None)


class RefEngine:
    """The engine as a pure-Python model; implements `chimney.sw.bus.Device`."""

    def __init__(self, params: EngineParams = EngineParams(), memory=None):
        self.params = params
        self.memory = memory
        self.regmap = register_map(params)
        self._by_offset = {r.offset: r for r in self.regmap}
        # CSR storage of every non-RO field, as the CSR block holds it.
        self._stored = {r.name: sum(f.reset << f.lsb for f in r.fields if f.access != "RO")
                        for r in self.regmap}
        self.tables = Tables(params, self._set_err)
        self.tables.injector = self._injection_mask
        self.dma_faults = []
        #: optional callable(addr, length, is_write) -> None or an AXI resp (2/3) to fail
        self.dma_hook = None
        #: optional callable() run when the driver waits for an interrupt that is not
        #: pending (tests use it to model time passing: scrub steps, late faults ...)
        self.idle_hook = None
        self._running = False
        self._power_on()

    # ======================================================================
    # Reset
    # ======================================================================
    def _power_on(self):
        self._reset_engine(power_on=True)

    def _reset_engine(self, power_on=False):
        """CTRL.RESET (and power-on): everything but the register file restarts, as at
        power-on (contract *Bring-up* 1): tables, the engine's ring indices (including its
        own copies of CMDQ_PROD / CPLQ_CONS / EVTQ_CONS, taken from their doorbell
        writes), seq, CMD_COUNT, the ECC counters and last-error registers,
        QUARANTINED, SCRUB_PASSES, DMA_ERR_*, HALTED, ENABLED, the allocation pointers,
        a requested scrub pass and queued ring entries. Register storage is kept:
        ring bases/sizes, masks, IRQ_STATUS, ERR_STATUS, ERRINJ_*, the last values
        written to the doorbells. READY is 1 at once (the model has no cycles). The reset
        pass rewrites meta words and pool entries (see `Tables.clear`)."""
        self.tables.clear(power_on)
        self.enabled = False
        self.halted = False
        self._rings = None                  # latched {"CMDQ": (base, log2), ...}
        self._windows = win.reset_windows(self.params)   # latched with the rings
        self.cmd_prod = self.cmd_cons = 0   # effective producer (accepted doorbells), consumer
        self.cpl_prod = self.evt_prod = 0
        self.cpl_cons = self.evt_cons = 0   # the engine's copies of the host's consumer doorbells
        self.seq = 0
        self.cmd_count = 0
        self.quarantined = 0
        self.scrub_passes = 0
        self.reclaimed = 0
        self.alloc_ptr = {ObjType.NEIGHBOR: 0, ObjType.PATH: 0, ObjType.TCP: 0, "pool": 0}
        self._out = deque()                 # ring entries waiting to be written, in write order
        self.dma_err = None                 # (addr, resp, write, timeout)
        self._scrub_cursor = None
        self._scrub_pass_pending = False
        self._pending = None                  # collected parent decrements (see _parent_decrement)

    # ======================================================================
    # Device protocol (register window + interrupt)
    # ======================================================================
    async def read32(self, offset):
        return self.read_reg(offset)

    async def write32(self, offset, value):
        self.write_reg(offset, value)

    def irq_level(self):
        return bool(self._stored["IRQ_STATUS"] & self._stored["IRQ_MASK"])

    async def wait_irq(self, timeout_ns):
        """The model has no time: the line is high now or only after host action.
        `idle_hook` (if set) runs once to let a test model time passing."""
        if self.irq_level():
            return
        if self.idle_hook is not None:
            self.idle_hook()
            if self.irq_level():
                return
        raise DeviceTimeout(f"no interrupt within {timeout_ns} ns (reference model is idle)")

    # --- register access ------------------------------------------------------
    def _reg(self, offset):
        # decoded by 32-bit word, as rtl/csr.py does (AXI4-Lite: the low address bits are ignored)
        reg = self._by_offset.get(offset & ~3)
        if reg is None:
            raise BusError(f"unmapped CSR offset {offset:#x} (SLVERR)")
        return reg

    def read_reg(self, offset):
        reg = self._reg(offset)
        ro = self._ro_fields(reg.name) if any(f.access == "RO" and not f.const for f in reg.fields) else {}
        value = 0
        for f in reg.fields:
            if f.access == "RO":
                v = f.reset if f.const else ro.get(f.name, 0)
            else:
                v = self._stored[reg.name] >> f.lsb
            value |= (v & ((1 << f.width) - 1)) << f.lsb
        return value

    def write_reg(self, offset, value):
        reg = self._reg(offset)
        value &= M32
        if reg.lock and self.read_reg(self.regmap[reg.lock.split(".")[0]].offset) >> \
                self.regmap.field(reg.lock).lsb & 1:
            return                                   # locked (the DMA windows while enabled)
        old = self._stored[reg.name]
        new = old
        for f in reg.fields:
            if f.access == "RO":
                continue
            if f.access == "RW1C":
                new &= ~(value & f.mask)             # write 1 to clear
            else:                                    # RW, RWSC, DB: storage
                new = (new & ~f.mask) | (value & f.mask)
        self._stored[reg.name] = new
        self._after_write(reg.name, value)

    def reg(self, name):
        """Read a register by name (synchronous; for tests)."""
        return self.read_reg(self.regmap[name].offset)

    def set_reg(self, name, value):
        self.write_reg(self.regmap[name].offset, value)

    def _field(self, reg, fld):
        f = self.regmap[reg].field(fld)
        return self._stored[reg] >> f.lsb & ((1 << f.width) - 1)

    def _ro_fields(self, name):
        t = self.tables.log
        if name == "STATUS":
            busy = any(kind == "cpl" for kind, _ in self._out)
            return dict(ENABLED=int(self.enabled), BUSY=int(busy), HALTED=int(self.halted), READY=1)
        if name == "CMDQ_CONS":
            return dict(INDEX=self.cmd_cons)
        if name == "CPLQ_PROD":
            return dict(INDEX=self.cpl_prod)
        if name == "EVTQ_PROD":
            return dict(INDEX=self.evt_prod)
        if name == "ECC_CE_COUNT":
            return dict(COUNT=t.ce_count)
        if name == "ECC_UE_COUNT":
            return dict(COUNT=t.ue_count)
        if name == "ECC_LAST_CE":
            return dict(MEM=t.last_ce[0], ADDR=t.last_ce[1], VALID=1) if t.last_ce else {}
        if name == "ECC_LAST_CE_SYN":
            return dict(SYNDROME=t.last_ce[2]) if t.last_ce else {}
        if name == "ECC_LAST_UE":
            return dict(MEM=t.last_ue[0], ADDR=t.last_ue[1], VALID=1) if t.last_ue else {}
        if name == "ECC_LAST_UE_SYN":
            return dict(SYNDROME=t.last_ue[2], KIND=t.last_ue[3]) if t.last_ue else {}
        if name in ("DMA_ERR_ADDR_LO", "DMA_ERR_ADDR_HI", "DMA_ERR_INFO"):
            if not self.dma_err:
                return {}
            addr, resp, write, timeout = self.dma_err
            return {"DMA_ERR_ADDR_LO": dict(ADDR=addr & M32), "DMA_ERR_ADDR_HI": dict(ADDR=addr >> 32),
                    "DMA_ERR_INFO": dict(RESP=resp, WRITE=int(write), TIMEOUT=int(timeout), VALID=1)}[name]
        if name == "QUARANTINED":
            return dict(COUNT=self.quarantined)
        if name == "SCRUB_PASSES":
            return dict(COUNT=self.scrub_passes)
        if name == "CMD_COUNT":
            return dict(COUNT=self.cmd_count)
        if name == "RECLAIMED":
            return dict(COUNT=self.reclaimed)
        return {}

    def _after_write(self, name, value):
        """Side effects of a register write (DB pulses, CTRL)."""
        if name == "CTRL":
            if value >> self.regmap["CTRL"].field("RESET").lsb & 1:
                # RESET wins over ENABLE in the same write (the RTL does not hand such a
                # write to the engine); the engine stays disabled until ENABLE is written again.
                self._reset_engine()
                self._run()                         # a requested reclaim (register file) runs now
                return
            if not value & 1:
                self.enabled = False                # stops after the current command
            elif not self.enabled and not self.halted:
                # Rings are latched only by an ENABLE=1 write while disabled (and not
                # halted); ENABLE=1 while enabled is ignored (contract, lead decision e).
                self._latch_rings()
            self._run()
        elif name == "CMDQ_PROD":
            new = value & M16
            # Contract *Rings*: a doorbell more than 2^SIZE ahead of CMDQ_CONS is ignored.
            # The guard uses the CMDQ_SIZE register as it is now (like the RTL).
            if (new - self.cmd_cons) & M16 > 1 << self._field("CMDQ_SIZE", "LOG2"):
                self._set_err(ErrorCode.CMDQ_OVERFLOW)
            else:
                self.cmd_prod = new
                self._run()
        elif name in ("CPLQ_CONS", "EVTQ_CONS"):
            # the engine's copy, taken from the doorbell: forward up to the producer, no
            # further (contract *Rings*; a doorbell behind the consumer or past the producer
            # is ignored with CONS_OVERRUN)
            kind = "cpl" if name == "CPLQ_CONS" else "evt"
            cons, prod = getattr(self, f"{kind}_cons"), getattr(self, f"{kind}_prod")
            if (value - cons) & M16 > (prod - cons) & M16:
                self._set_err(ErrorCode.CONS_OVERRUN)
            else:
                setattr(self, f"{kind}_cons", value & M16)
                self._run()                         # space may have been freed
        elif name == "SCRUB_CTRL":
            if value & 1:
                self._scrub_pass_pending = True
            self._run()                             # PASS, RECLAIM (the stored bit)
        elif name == "ECC_CTRL":
            if value & 1:
                self.tables.clear_counters()

    def _latch_rings(self):
        """CTRL.ENABLE=1: latch (and check) the three rings. Indices are kept."""
        rings = {}
        for q in ("CMDQ", "CPLQ", "EVTQ"):
            base = self._stored[f"{q}_BASE_LO"] | self._stored[f"{q}_BASE_HI"] << 32
            log2 = self._field(f"{q}_SIZE", "LOG2")
            # DECISION: a zero base is a bad base too (contract: addresses are non-zero).
            if not _aligned(base, ALIGN["ring_base"]) or not 1 <= log2 <= 15:
                self._set_err(ErrorCode.RING_CONFIG)
                self.enabled = False
                return
            rings[q] = (base, log2)
        # the windows are latched with the rings, and the rings must lie inside them
        ws = [(self.reg(f"WIN{i}_BASE_LO") | self.reg(f"WIN{i}_BASE_HI") << 32,
               self.reg(f"WIN{i}_LIMIT_LO") | self.reg(f"WIN{i}_LIMIT_HI") << 32)
              for i in range(self.params.n_windows)]
        self._windows = ws
        if not all(win.in_any(base, win.ring_span(log2, win.RING_ENTRY_BYTES[q]), ws)
                   for q, (base, log2) in rings.items()):
            self._set_err(ErrorCode.RING_CONFIG)
            self._set_err(ErrorCode.BAD_ADDRESS)
            self.enabled = False
            return
        self._rings = rings
        self.enabled = True

    # --- interrupt causes and error bits -------------------------------------------
    def _set_err(self, code):
        bit = 1 << int(code)
        self._stored["ERR_STATUS"] |= bit
        if self._stored["ERR_IRQ_MASK"] & bit:
            self._stored["IRQ_STATUS"] |= 1 << 2           # IRQ_STATUS.ERR

    def _injection_mask(self, mem_id):
        """ERRINJ: the next word written to ERRINJ_CTRL.MEM gets the mask; ARM clears."""
        if not self._field("ERRINJ_CTRL", "ARM") or self._field("ERRINJ_CTRL", "MEM") != mem_id:
            return 0
        self._stored["ERRINJ_CTRL"] &= ~1
        return (self._stored["ERRINJ_MASK_LO"] | self._stored["ERRINJ_MASK_HI"] << 32
                | (self._stored["ERRINJ_MASK_ECC"] & 0xFF) << 64)

    # ======================================================================
    # DMA
    # ======================================================================
    def _dma_fault(self, addr, length, write):
        if self.dma_hook is not None:
            resp = self.dma_hook(addr, length, write)
            if resp:
                return resp, False
        for f in self.dma_faults:
            if (f.write if write else f.read) and addr < f.hi and f.lo < addr + length:
                return (0, True) if f.timeout else (f.resp, False)
        return None

    def _dma_read(self, addr, length):
        fault = self._dma_fault(addr, length, False)
        if fault is None:
            try:
                return self.memory.read(addr, length)
            except (IndexError, ValueError):
                fault = (3, False)                    # nothing behind the address: DECERR
        self.dma_err = (addr, fault[0], False, fault[1])
        self._set_err(ErrorCode.DMA_READ)
        if fault[1]:
            # a read that never ends: the bus still owes the transaction, so nothing more
            # may be issued (as rtl/dma.py's `fatal`): halted until CTRL.RESET, no completion
            self.halted = True
            raise _Halt()
        raise _DmaReadError(addr)

    def _dma_write(self, addr, data):
        """Contract: a failed write leaves host memory undefined: ERR_STATUS.DMA_WRITE,
        DMA_ERR_*, STATUS.HALTED, stop until CTRL.RESET (no completion)."""
        fault = self._dma_fault(addr, len(data), True)
        if fault is None:
            try:
                self.memory.write(addr, data)
                return
            except (IndexError, ValueError):
                fault = (3, False)
        self.dma_err = (addr, fault[0], True, fault[1])
        self._set_err(ErrorCode.DMA_WRITE)
        self.halted = True
        raise _Halt()

    # ======================================================================
    # Main loop and ring output
    # ======================================================================
    def _run(self):
        if self._running:
            return
        self._running = True
        try:
            while not self.halted:
                if not self._flush():
                    break                              # waiting for ring space
                if self._field("SCRUB_CTRL", "RECLAIM"):  # a requested reclaim runs between commands
                    self._reclaim()                         # (before a requested pass, as the RTL)
                    continue
                if self._scrub_pass_pending:           # a requested pass runs between commands
                    self._scrub_pass_pending = False
                    self._scrub_full_pass()
                    continue
                if not self.enabled or self.cmd_prod == self.cmd_cons:
                    break
                self._step_command()
        except _Halt:
            # STATUS.HALTED; ENABLED keeps its value (as the RTL): only CTRL.RESET restarts
            self.halted = True
        finally:
            self._running = False

    def _flush(self):
        """Write queued ring entries in order while their ring has space.

        The engine never overwrites an unconsumed entry: it waits (the queue keeps them).
        Entries are queued in the order the RTL writes them: a command's events when
        found, its completion last."""
        while self._out:
            if self._rings is None:
                return False
            kind, fields = self._out[0]
            q = "CPLQ" if kind == "cpl" else "EVTQ"
            base, log2 = self._rings[q]
            prod = self.cpl_prod if kind == "cpl" else self.evt_prod
            cons = self.cpl_cons if kind == "cpl" else self.evt_cons
            if (prod - cons) & M16 >= 1 << log2:
                return False
            slot = prod & ((1 << log2) - 1)
            phase = 1 ^ (prod >> log2 & 1)             # 1 on the first pass, flips per wrap
            if kind == "cpl":
                self._dma_write(base + slot * COMPLETION_BYTES, COMPLETION.to_bytes(fields, phase=phase, rsvd=0))
                self.cpl_prod = (prod + 1) & M16
                self.cmd_count = (self.cmd_count + 1) & M32
                self._stored["IRQ_STATUS"] |= 1 << 0   # CPL
            else:
                self._dma_write(base + slot * EVENT_BYTES, EVENT.to_bytes(fields, phase=phase, rsvd=0))
                self.evt_prod = (prod + 1) & M16
                self._stored["IRQ_STATUS"] |= 1 << 1   # EVT
            self._out.popleft()
        return True

    def _take_seq(self):
        seq = self.seq
        self.seq = (self.seq + 1) & M16
        return seq

    def _post_event(self, handle, host_handle, ev_type, info=0):
        self._out.append(("evt", dict(handle=handle, host_handle=host_handle & M32, info=info,
                                      seq=self._take_seq(), type=int(ev_type))))

    def _failure_events(self, handle, host_handle):
        """Hardware failure of a TCP connection: Retrieve(HardwareFailure), then Abort,
        each taking the next seq (after the completion of the command that found it)."""
        self._post_event(handle, host_handle, TcpEventType.RETRIEVE, int(TcpUploadReason.HARDWARE_FAILURE))
        self._post_event(handle, host_handle, TcpEventType.ABORT, 0)

    def _step_command(self):
        base, log2 = self._rings["CMDQ"]
        slot = self.cmd_cons & ((1 << log2) - 1)
        try:
            raw = self._dma_read(base + slot * COMMAND_BYTES, COMMAND_BYTES)
        except _DmaReadError:
            # DECISION: a command that cannot be fetched has no tag to complete: halt.
            raise _Halt()
        self.cmd_cons = (self.cmd_cons + 1) & M16
        cmd = COMMAND.from_bytes(raw)
        seq = self._take_seq()                         # the completion's seq: taken at start
        handler = {
            Opcode.NOP: self._cmd_nop,
            Opcode.OFFLOAD: self._cmd_offload,
            Opcode.POST_SEND: self._cmd_post,
            Opcode.POST_RECV: self._cmd_post,
            Opcode.QUERY: self._cmd_query,
            Opcode.TERMINATE: self._cmd_terminate,
            Opcode.UPDATE: self._cmd_update,
        }.get(cmd["opcode"])
        done = self._refuse(ErrorCode.BAD_OPCODE) if handler is None else handler(cmd)
        self._out.append(("cpl", dict(status=int(done.status), result=done.result & M32, tag=cmd["tag"],
                                      err_index=done.err_index, seq=seq, detail=int(done.detail),
                                      opcode=cmd["opcode"] & OPCODE_FIELD_MASK)))

    def _refuse(self, code):
        """A refused command: status from ERROR_STATUS, detail = ErrorCode, ERR_STATUS bit."""
        self._set_err(code)
        return _Done(ERROR_STATUS[code], 0, NO_INDEX, int(code))

    # ======================================================================
    # Row helpers
    # ======================================================================
    def _check_handle(self, handle, want_type=None):
        """Contract *Handles*: BAD_HANDLE for type not 1..3, reserved bits, wrong type,
        index outside the table. Returns (type, index, gen) or None."""
        t, idx, gen, rsvd = split_handle(handle)
        if t not in (1, 2, 3) or rsvd:
            return None
        t = ObjType(t)
        if want_type is not None and t != want_type:
            return None
        if idx >= self.params.depth(t):
            return None
        return t, idx, gen

    def _allocate_row(self, t):
        """Scan from the next-allocation pointer upwards, wrapping, for a row that is free
        and not quarantined; a row whose meta cannot be read is skipped."""
        n = self.params.depth(t)
        p = self.alloc_ptr[t]
        for i in range(n):
            r = (p + i) % n
            m = self.tables.read_meta(t, r)
            if m is not None and m.free:
                self.alloc_ptr[t] = (r + 1) % n
                return r, m
        return None, None

    def _allocate_entry(self):
        n = self.params.n_req
        p = self.alloc_ptr["pool"]
        for i in range(n):
            r = (p + i) % n
            e = self.tables.read_entry(r)
            if e is not None and e.free:
                self.alloc_ptr["pool"] = (r + 1) % n
                return r
        return None

    def _read_meta_ident(self, t, idx):
        """Meta word, then ident word, both through SECDED (the RTL reads them together
        for every entry/command that reaches a row). Returns (Meta|None, ident|None)."""
        return self.tables.read_meta(t, idx), self.tables.read_ident(t, idx)

    def _row_data(self, t, idx, ident, words=None):
        """The row's data words through SECDED (`words`: already read), then the row CRC
        over them and the ident word. Returns the data as an int, or None if the state is
        lost (a lost data or ident word, or a CRC mismatch: counted as uncorrectable,
        KIND 2, located at the row's index in its data memory)."""
        if words is None:
            words = self.tables.read_data(t, idx)
        if ident is None or any(w is None for w in words):
            return None
        if self.params.ecc and row_crc(words, ident["host_handle"]) != ident["crc"]:
            self.tables.crc_mismatch(t, idx)
            return None
        return sum(w << (64 * i) for i, w in enumerate(words))

    @staticmethod
    def _host_handle(ident):
        """Events carry the stored host handle, or 0 if the ident word was lost."""
        return 0 if ident is None else ident["host_handle"]

    def _poison(self, t, idx, gen, parent, event_handle, ident, *, detached=0, events=True):
        """The meta word itself was lost: rewrite the row as poisoned (failed, any
        generation accepted, the entry's parent trusted, stored as wide as the meta field).
        From now on the row is withheld: QUARANTINED counts it here (DECISION, as the RTL).
        A TCP connection gets Retrieve(HardwareFailure) + Abort (`events=False`: the caller
        posts them later, see `_lost_meta`)."""
        m = Meta(valid=1, failed=1, poisoned=1, detached=detached, gen=gen, parent=parent)
        self.tables.write_meta(t, idx, m)
        self.quarantined = min(self.quarantined + 1, M32)
        if t == ObjType.TCP and events:
            self._failure_events(event_handle, self._host_handle(ident))
        return m

    def _mark_failed(self, t, idx, m, event_handle, ident, *, detached=0, events=True):
        """State lost (data/ident word, CRC, or request list): the row is marked failed and
        keeps its requests; a TCP connection gets its two events (`events=False`: the
        caller posts them later). `detached`: see `_found_failure`."""
        m.failed = 1
        m.detached |= detached
        self.tables.write_meta(t, idx, m)
        if t == ObjType.TCP and events:
            self._failure_events(event_handle, self._host_handle(ident))

    def _walk(self, m):
        """Follow a TCP row's request list: req_count entries from req_head, the last one
        must be req_tail. Returns (entries, intact). An uncorrectable entry is quarantined
        (written as used+poisoned, QUARANTINED + 1) and ends the list; an entry already
        poisoned or not in use ends it too."""
        entries = []
        idx = m.req_head
        for _ in range(m.req_count):
            e = self.tables.read_entry(idx)
            if e is None:
                self.tables.write_entry(idx, PoolEntry(used=1, poisoned=1))
                self.quarantined = min(self.quarantined + 1, M32)
                return entries, False
            if e.poisoned or not e.used:
                return entries, False
            entries.append((idx, e))
            last, idx = idx, e.next
        if entries and last != m.req_tail:
            return entries, False
        return entries, True

    def _end_row(self, t, idx, m, gen, entry_parent, walked=()):
        """TERMINATE ends an object: free the row (generation + 1, freed_tag = CMD_COUNT,
        all 32 bits) or, if poisoned, leave it quarantined (valid 0, failed, poisoned);
        free its request entries; take one off the parent's reference count (a poisoned
        row trusts the entry's parent) unless the row is detached (its reference was
        released by the terminate that found it failed)."""
        if m.poisoned:
            self.tables.write_meta(t, idx, Meta(valid=0, failed=1, poisoned=1, gen=gen))
            parent = entry_parent
        else:
            self.tables.write_meta(t, idx, Meta(valid=0, gen=(m.gen + 1) & 0xFF, freed_tag=self.cmd_count))
            parent = m.parent
        for e_idx, _ in walked:
            self.tables.write_entry(e_idx, PoolEntry())
        if t != ObjType.NEIGHBOR and not m.detached:
            self._parent_decrement(PARENT_TYPE[t], parent)

    def _parent_decrement(self, pt, pidx):
        """One off the parent's count, as the RTL does it: consecutive decrements of the
        same parent are collected and applied at once (`_flush_decrement`) when the parent
        changes, before a path or neighbor entry is processed, and at the end of the list.
        Never an index outside the parent table (a poisoned row's parent is the host's)."""
        if pidx >= self.params.depth(pt):
            return
        if self._pending is not None and self._pending[:2] == (pt, pidx):
            self._pending[2] += 1
            return
        self._flush_decrement()
        self._pending = [pt, pidx, 1]

    def _flush_decrement(self):
        """Apply the collected decrements: never below zero, never a poisoned (or
        quarantined, or unreadable) parent. The parent's meta word is read once."""
        if self._pending is None:
            return
        pt, pidx, count = self._pending
        self._pending = None
        pm = self.tables.read_meta(pt, pidx)
        if pm is None or not pm.valid or pm.poisoned or pm.refcount == 0:
            return
        pm.refcount = max(pm.refcount - count, 0)
        self.tables.write_meta(pt, pidx, pm)

    # ======================================================================
    # Commands
    # ======================================================================
    def _cmd_nop(self, cmd):
        return _Done()

    def _cmd_offload(self, cmd):
        """OFFLOAD, checked in this order: obj_type 1..3 (BAD_HANDLE) -> load block address
        (BAD_ADDRESS) -> the parent: a neighbor's handle must be 0, otherwise the handle
        must name the parent type, in range, reserved bits zero, and the row must be
        offloaded, readable, not failed/poisoned, same generation (all PARENT) -> read the
        load block (DMA_READ) -> TCP State <= 10 (BAD_STATE) -> free row (TABLE_FULL).
        The load block is stored as given (reserved bits are never sent back)."""
        if cmd["obj_type"] not in (1, 2, 3):
            return self._refuse(ErrorCode.BAD_HANDLE)
        t = ObjType(cmd["obj_type"])
        if not self._load_ok(cmd["addr"], t):
            return self._refuse(ErrorCode.BAD_ADDRESS)
        parent = pm = None
        if t == ObjType.NEIGHBOR:
            if cmd["handle"] != 0:
                return self._refuse(ErrorCode.PARENT)
        else:
            parent = self._check_handle(cmd["handle"], PARENT_TYPE[t])
            if parent is None:
                return self._refuse(ErrorCode.PARENT)
            pt, pidx, pgen = parent
            pm = self.tables.read_meta(pt, pidx)
            if pm is None or not pm.valid or pm.failed or pm.poisoned or pm.gen != pgen:
                return self._refuse(ErrorCode.PARENT)
        nwords = data_words(t)
        try:
            raw = self._dma_read(cmd["addr"], nwords * 8)
        except _DmaReadError:
            return _Done(NdisStatus.DEVICE_DATA_ERROR, 0, NO_INDEX, int(ErrorCode.DMA_READ))
        data = int.from_bytes(raw, "little")
        if t == ObjType.TCP and DATA[t].unpack(data)["State"] > 10:
            return self._refuse(ErrorCode.BAD_STATE)
        row, m = self._allocate_row(t)
        if row is None:
            return self._refuse(ErrorCode.TABLE_FULL)
        words = [data >> (64 * w) & M64 for w in range(nwords)]
        self.tables.write_data(t, row, data)
        self.tables.write_ident(t, row, cmd["cookie"], row_crc(words, cmd["cookie"]))
        self.tables.write_meta(t, row, Meta(valid=1, gen=m.gen, parent=parent[1] if parent else 0))
        if parent is not None:
            pm.refcount += 1
            self.tables.write_meta(pt, pidx, pm)
        return _Done(result=make_handle(t, row, m.gen))

    def _row_checks(self, t, idx, gen, handle):
        """POST/UPDATE: read meta + ident; a lost meta poisons the row (CONN_FAILED);
        not offloaded or another generation: STALE_HANDLE; failed or poisoned:
        CONN_FAILED. Returns (Meta, ident, refusal _Done or None)."""
        m, ident = self._read_meta_ident(t, idx)
        if m is None:
            self._poison(t, idx, gen, 0, handle, ident)
            return None, ident, self._refuse(ErrorCode.CONN_FAILED)
        if not m.valid:
            return m, ident, self._refuse(ErrorCode.STALE_HANDLE)
        if m.poisoned:
            return m, ident, self._refuse(ErrorCode.CONN_FAILED)
        if m.gen != gen:
            return m, ident, self._refuse(ErrorCode.STALE_HANDLE)
        if m.failed:
            return m, ident, self._refuse(ErrorCode.CONN_FAILED)
        return m, ident, None

    def _cmd_post(self, cmd):
        """POST_SEND / POST_RECV: handle (BAD_HANDLE) -> length 1..65535 (BAD_LENGTH) ->
        row checks (see _row_checks) -> free pool entry (TABLE_FULL) -> store it -> link it
        after the tail; a lost tail (uncorrectable, poisoned, not in use) gives the new
        entry back and fails the connection (events, CONN_FAILED)."""
        h = self._check_handle(cmd["handle"], ObjType.TCP)
        if h is None:
            return self._refuse(ErrorCode.BAD_HANDLE)
        _, idx, gen = h
        length = cmd["count"]
        if not 1 <= length <= MAX_POST_LENGTH:
            return self._refuse(ErrorCode.BAD_LENGTH)
        m, ident, refused = self._row_checks(ObjType.TCP, idx, gen, cmd["handle"])
        if refused:
            return refused
        new = self._allocate_entry()
        if new is None:
            return self._refuse(ErrorCode.TABLE_FULL)
        kind = ReqKind.SEND if cmd["opcode"] == Opcode.POST_SEND else ReqKind.RECV
        self.tables.write_entry(new, PoolEntry(used=1, cookie=cmd["cookie"], length=length, kind=int(kind), next=0))
        if m.req_count:
            tail = self.tables.read_entry(m.req_tail)
            if tail is None or tail.poisoned or not tail.used:
                # A lost request-list word is a hardware failure of the connection.
                self.tables.write_entry(new, PoolEntry())
                self._mark_failed(ObjType.TCP, idx, m, cmd["handle"], ident)
                return self._refuse(ErrorCode.CONN_FAILED)
            tail.next = new
            self.tables.write_entry(m.req_tail, tail)
        else:
            m.req_head = new
        m.req_tail = new
        m.req_count += 1
        self.tables.write_meta(ObjType.TCP, idx, m)
        return _Done()

    def _cmd_update(self, cmd):
        """UPDATE: obj_type and a handle of that type (BAD_HANDLE) -> load block address
        (BAD_ADDRESS) -> row checks (see _row_checks) -> [TCP: nothing changes, SUCCESS]
        -> read the load block (DMA_READ) -> row read + CRC (lost: failed, CONN_FAILED)
        -> replace the cached fields, recompute the CRC."""
        if cmd["obj_type"] not in (1, 2, 3):
            return self._refuse(ErrorCode.BAD_HANDLE)
        t = ObjType(cmd["obj_type"])
        h = self._check_handle(cmd["handle"], t)
        if h is None:
            return self._refuse(ErrorCode.BAD_HANDLE)
        _, idx, gen = h
        if not self._load_ok(cmd["addr"], t):
            return self._refuse(ErrorCode.BAD_ADDRESS)
        m, ident, refused = self._row_checks(t, idx, gen, cmd["handle"])
        if refused:
            return refused
        if t == ObjType.TCP:
            return _Done()              # the driver keeps TCP cached state
        try:
            load = int.from_bytes(self._dma_read(cmd["addr"], data_words(t) * 8), "little")
        except _DmaReadError:
            return _Done(NdisStatus.DEVICE_DATA_ERROR, 0, NO_INDEX, int(ErrorCode.DMA_READ))
        data = self._row_data(t, idx, ident)
        if data is None:
            self._mark_failed(t, idx, m, cmd["handle"], ident)
            return self._refuse(ErrorCode.CONN_FAILED)
        mask = cached_mask(t)
        data = (data & ~mask) | (load & mask)
        words = [data >> (64 * w) & M64 for w in range(data_words(t))]
        self.tables.write_data(t, idx, data)
        self.tables.write_ident(t, idx, ident["host_handle"], row_crc(words, ident["host_handle"]))
        return _Done()

    def _cmd_query(self, cmd):
        return self._list_command(cmd, terminate=False)

    def _cmd_terminate(self, cmd):
        return self._list_command(cmd, terminate=True)

    def _list_command(self, cmd, terminate):
        """QUERY / TERMINATE: the list is read entry by entry; each entry is processed to
        completion before the next. The completion reports the DMA read error of the list
        if there was one, else the first refusal, and counts non-SUCCESS Status words."""
        count = cmd["count"]
        if count == 0 or count > MAX_LIST_ENTRIES:
            return self._refuse(ErrorCode.BAD_LENGTH)
        if not (_aligned(cmd["addr"], ALIGN["list_addr"])
                and win.in_any(cmd["addr"], win.list_span(count), self._windows)):
            return self._refuse(ErrorCode.BAD_ADDRESS)
        first = None                                    # (index, ErrorCode)
        not_success = 0
        self._pending = None                            # collected parent decrements
        for k in range(count):
            try:
                raw = self._dma_read(cmd["addr"] + k * LIST_ENTRY_BYTES, LIST_ENTRY_BYTES)
            except _DmaReadError:
                # DECISION (as the RTL; the contract does not say which wins): a list read
                # error is reported even after an earlier refusal, so the driver learns
                # which entries were not processed (DEVICE_DATA_ERROR, err_index = k).
                first = (k, ErrorCode.DMA_READ)
                break
            entry = LIST_ENTRY.from_bytes(raw)
            if split_handle(entry["handle"])[0] != ObjType.TCP:
                self._flush_decrement()                 # a path's or neighbor's count is current
            status, refusal = self._list_entry(entry, terminate)
            if status != NdisStatus.SUCCESS:
                not_success += 1
            if refusal and first is None:
                first = (k, refusal)
        self._flush_decrement()
        if first is None:
            return _Done(NdisStatus.SUCCESS, not_success)
        k, code = first
        return _Done(ERROR_STATUS[code], not_success, k, int(code))

    # --- one list entry -------------------------------------------------------------
    def _write_status(self, e, status):
        self._dma_write(e["status_addr"], int(status).to_bytes(4, "little"))

    def _load_ok(self, addr, t):
        """A load block's address: aligned, and the block inside a DMA window."""
        return _aligned(addr, ALIGN["load_addr"]) and win.in_any(addr, win.load_span(t), self._windows)

    def _refuse_entry(self, e, f, code):
        """A refused entry changes no row; its Status word is written with the refusal's
        NDIS status when status_addr is usable."""
        self._set_err(code)
        status = ERROR_STATUS[code]
        if status_writable(f):
            self._write_status(e, status)
        return status, code

    def _list_entry(self, e, terminate):
        """Returns (Status written, ErrorCode of a refusal or None). The checks are
        `chimney.contract.checks.ENTRY_CHECKS`, in that order (the RTL walks the same
        table); the first that fails decides the entry."""
        f = _EntryFacts(self, e, terminate)
        check = first_failing(f, "entry")
        if check is not None:
            return self._refuse_entry(e, f, check.code)
        t, idx, gen = f.type, f.index, f.gen
        entry_parent = 0 if t == ObjType.NEIGHBOR else e["parent"]
        # the row's meta word (read with the ident word); the RTL reads the data words in
        # the same breath, whatever the meta word then says, so their SECDED outcomes
        # (counters, corrected-word write-back) happen for every entry that gets this far
        m, ident = self._read_meta_ident(t, idx)
        f.read_row(m, ident, self.tables.read_data(t, idx))
        check = first_failing(f, "row")
        if check is None:
            # A healthy object; for a TCP TERMINATE then its request list.
            walked, intact = [], True
            if terminate and t == ObjType.TCP:
                walked, intact = self._walk(m)
            if intact:
                return self._healthy_entry(e, t, idx, m, gen, terminate, entry_parent, f.data, walked)
            return self._found_failure(e, t, idx, m, terminate, ident), None
        if check.outcome is Outcome.REFUSE:
            return self._refuse_entry(e, f, check.code)
        if check.outcome is Outcome.META_LOST:
            return self._lost_meta(e, t, idx, gen, terminate, entry_parent, ident), None
        if check.outcome is Outcome.FAILED_ROW:
            return self._failed_object(e, t, idx, m, gen, terminate, entry_parent), None
        return self._found_failure(e, t, idx, m, terminate, ident), None

    def _healthy_entry(self, e, t, idx, m, gen, terminate, entry_parent, data, walked):
        """Request records, header, delegated bytes, Status SUCCESS; TERMINATE frees the row."""
        fields = DATA[t].unpack(data)
        if terminate and t == ObjType.TCP:
            records = [dict(cookie=r.cookie, length=r.length, kind=r.kind,
                            disposition=int(record_disposition(r.kind, aborted=False)))
                       for _, r in walked]
            self._write_requests(e, records, list_lost=0)
        self._write_delegated(e, t, fields)
        self._write_status(e, NdisStatus.SUCCESS)
        if terminate:
            self._end_row(t, idx, m, gen, entry_parent, walked)
        return NdisStatus.SUCCESS, None

    def _lost_meta(self, e, t, idx, gen, terminate, entry_parent, ident):
        """This entry found the row's meta word lost. Status FAILURE, no delegated bytes.
        A path/neighbor TERMINATE ends it now: quarantined (never freed). Otherwise the row
        is rewritten as poisoned (TCP: events) and a TCP TERMINATE writes the header with
        0 records and list_lost (lead decision c: the list is gone), detaches the row from
        its path (decision b) and keeps it until the host's next terminate."""
        if terminate and t != ObjType.TCP:
            self.quarantined = min(self.quarantined + 1, M32)
            self._write_status(e, NdisStatus.FAILURE)
            self._end_row(t, idx, Meta(valid=1, failed=1, poisoned=1), gen, entry_parent)
            return NdisStatus.FAILURE
        if terminate:
            # TCP TERMINATE (lead decision b): the row is poisoned *and detached*: the
            # connection's reference on its path (the entry's parent, the only one known)
            # is released now, before the events, and its final terminate does not
            # release it again. The header says list_lost (decision c). A connection an
            # earlier terminate detached gave its reference back then: the lost meta word
            # cannot say so, the host does (entry.detached, notes-refmodel 19b).
            self._poison(t, idx, gen, entry_parent, e["handle"], ident, detached=1, events=False)
            self._write_requests(e, [], list_lost=1)
            self._write_status(e, NdisStatus.FAILURE)
            if not e["detached"]:
                self._parent_decrement(PARENT_TYPE[t], entry_parent)
            self._failure_events(e["handle"], self._host_handle(ident))
            return NdisStatus.FAILURE
        self._poison(t, idx, gen, entry_parent, e["handle"], ident)
        self._write_status(e, NdisStatus.FAILURE)
        return NdisStatus.FAILURE

    def _found_failure(self, e, t, idx, m, terminate, ident):
        """This entry found a healthy row's state lost (data/ident word, CRC, request list).
        Status FAILURE, no delegated bytes. A path/neighbor TERMINATE ends it now (freed,
        no events). Otherwise the row is marked failed (TCP: Retrieve + Abort) and a TCP
        TERMINATE writes the header with 0 records, detaches the row from its path
        (decision b) and keeps the row."""
        if terminate and t != ObjType.TCP:
            self._write_status(e, NdisStatus.FAILURE)
            self._end_row(t, idx, m, 0, 0)
            return NdisStatus.FAILURE
        if terminate:
            # TCP TERMINATE (lead decision b): failed *and detached*; the reference on the
            # path is released now (so the rest of the tree can end in this command), then
            # the events are posted; the final terminate does not release it again.
            parent = m.parent
            self._mark_failed(t, idx, m, e["handle"], ident, detached=1, events=False)
            self._write_requests(e, [], list_lost=0)
            self._write_status(e, NdisStatus.FAILURE)
            self._parent_decrement(PARENT_TYPE[t], parent)
            self._failure_events(e["handle"], self._host_handle(ident))
            return NdisStatus.FAILURE
        self._mark_failed(t, idx, m, e["handle"], ident)
        self._write_status(e, NdisStatus.FAILURE)
        return NdisStatus.FAILURE

    def _failed_object(self, e, t, idx, m, gen, terminate, entry_parent):
        """An object already failed (or poisoned): QUERY gives FAILURE again (no new events).
        TERMINATE (the host's next terminate): every still-tracked request as an ABORTED
        record (list_lost if the list was lost; a poisoned row's list always is), the
        header, Status FAILURE, then the row is freed (left quarantined if poisoned)."""
        walked = []
        if terminate and t == ObjType.TCP:
            if m.poisoned:
                intact = False
            else:
                walked, intact = self._walk(m)
            records = [dict(cookie=r.cookie, length=r.length, kind=r.kind,
                            disposition=int(record_disposition(r.kind, aborted=True)))
                       for _, r in walked]
            self._write_requests(e, records, list_lost=int(not intact))
        self._write_status(e, NdisStatus.FAILURE)
        if terminate:
            self._end_row(t, idx, m, gen, entry_parent, walked)
        return NdisStatus.FAILURE

    def _write_requests(self, e, records, list_lost):
        """Records to req_addr + 8 + 8*i, then the header to req_addr."""
        if records:
            blob = b"".join(REQ_RECORD.to_bytes(r) for r in records)
            self._dma_write(e["req_addr"] + REQ_HEADER_BYTES, blob)
        self._dma_write(e["req_addr"], REQ_HEADER.to_bytes(count=len(records), list_lost=list_lost, rsvd=0))

    def _write_delegated(self, e, t, fields):
        wb = WRITE_BACK[t]
        if wb.nbytes:
            self._dma_write(e["state_addr"] + wb.start, wb.image(fields))

    # ======================================================================
    # Patrol scrubber
    # ======================================================================
    def _scrub_rows(self):
        """One pass, one step per row (or pool entry), yielding after each: for the
        neighbor, path and TCP tables in turn, every row's meta word and, only for rows
        offloaded and not failed or poisoned, its ident word, data words and the row CRC
        (as the RTL: a free row's ident word is not read, so not counted); then every
        request-pool entry. A step is never split by a command (as in the RTL).
        What a step cannot correct it reports to the engine (`_scrub_report`), which
        acts on it as a command would: a lost meta poisons the row (generation 0 in the
        handle of its events), a lost data/ident word or CRC mismatch marks it failed, a
        lost pool entry is quarantined."""
        for t in (ObjType.NEIGHBOR, ObjType.PATH, ObjType.TCP):
            for r in range(self.params.depth(t)):
                m = self.tables.read_meta(t, r)
                if m is None:
                    self._scrub_report(t, r, meta_lost=True)
                elif m.valid and not m.failed and not m.poisoned:
                    if self._row_data(t, r, self.tables.read_ident(t, r)) is None:
                        self._scrub_report(t, r, meta_lost=False)
                yield
        for i in range(self.params.n_req):
            if self.tables.read_entry(i) is None:
                self.tables.write_entry(i, PoolEntry(used=1, poisoned=1))
                self.quarantined = min(self.quarantined + 1, M32)
            if i == self.params.n_req - 1:
                self.scrub_passes = min(self.scrub_passes + 1, M32)
            yield

    def _scrub_report(self, t, r, meta_lost):
        """The engine's side of a scrubber finding in row r (DECISION, as the RTL): it
        reads the row's meta and ident words again (so they are counted again by the
        ECC counters), then: meta lost (now or when found) -> poison the row unless the
        word now reads as already poisoned; otherwise a row still offloaded and healthy
        is marked failed. TCP rows get Retrieve(HardwareFailure) + Abort."""
        m, ident = self._read_meta_ident(t, r)
        if m is None or meta_lost:
            if m is not None and m.poisoned:
                return                                  # already handled
            self._poison(t, r, 0, 0, make_handle(t, r, 0), ident)
        elif m.valid and not m.failed and not m.poisoned:
            self._mark_failed(t, r, m, make_handle(t, r, m.gen), ident)

    def _reclaim(self):
        """SCRUB_CTRL.RECLAIM (rtl/reclaim.py): mark every pool entry a live list reaches,
        free the rest of the used, unpoisoned ones. The reads are the RTL's, in its order
        (their ECC outcomes are counted alike): each TCP meta word, each list's entries
        while they read and are used and unpoisoned, then every pool entry."""
        marked = set()
        for row in range(self.params.n_tcp):
            m = self.tables.read_meta(ObjType.TCP, row)
            if m is None or not m.valid or m.poisoned or not m.req_count:
                continue
            marked.add(m.req_tail)              # POST links after the tail: it stays owned
            at, left = m.req_head, m.req_count
            while left:
                e = self.tables.read_entry(at)
                if e is None or not e.used or e.poisoned:
                    break                       # the list is cut here
                marked.add(at)
                left, at = left - 1, e.next
        for i in range(self.params.n_req):
            e = self.tables.read_entry(i)
            if e is not None and e.used and not e.poisoned and i not in marked:
                self.tables.write_entry(i, PoolEntry())
                self.reclaimed = min(self.reclaimed + 1, M32)
        self._stored["SCRUB_CTRL"] &= ~(1 << self.regmap["SCRUB_CTRL"].field("RECLAIM").lsb)

    def _scrub_full_pass(self):
        for _ in self._scrub_rows():
            pass
        self._scrub_cursor = None          # DECISION: the periodic scrubber starts over

    def scrub_steps(self, n):
        """Periodic scrubbing (CTRL.SCRUB_EN): n steps (one row or pool entry each), as n
        SCRUB_INTERVAL periods between commands would. Does nothing without SCRUB_EN.
        Returns the steps taken."""
        if not self._field("CTRL", "SCRUB_EN") or self.halted:
            return 0
        done = 0
        while done < n:
            if self._scrub_cursor is None:
                self._scrub_cursor = self._scrub_rows()
            try:
                next(self._scrub_cursor)
                done += 1
            except StopIteration:
                self._scrub_cursor = None
        self._run()
        return done

    def scrub_pass(self):
        """Same as writing SCRUB_CTRL.PASS=1."""
        self.set_reg("SCRUB_CTRL", 1)

    # ======================================================================
    # Fault injection and inspection (tests; no ECC side effects)
    # ======================================================================
    def peek(self, mem_name, addr):
        """The raw stored word at `addr` of `mem_name` (72 bits, more for a guard beside them)."""
        return self.tables.peek(mem_name, addr)

    def corrupt(self, mem_name, addr, new_word):
        """Replace the stored word (no check bits recomputed)."""
        self.tables.poke(mem_name, addr, new_word)

    def flip(self, mem_name, addr, mask):
        """Flip bits of the stored word (0..63 data, 64..71 check bits, then any guard bits)."""
        self.tables.poke(mem_name, addr, self.tables.peek(mem_name, addr) ^ mask)

    @staticmethod
    def word_addr(obj_type, kind, row, word=0):
        """(memory name, word address) of a row's data word / ident / meta word."""
        name = Tables.name(obj_type, kind)
        return name, (row * data_words(obj_type) + word) if kind == "data" else row

    def fail_dma(self, addr, size, *, read=True, write=True, resp=2, timeout=False):
        """Make DMA accesses touching [addr, addr+size) fail. Returns the fault (remove it
        with `self.dma_faults.remove(fault)` or `clear_dma_faults()`)."""
        f = DmaFault(addr, addr + size, read, write, resp, timeout)
        self.dma_faults.append(f)
        return f

    def clear_dma_faults(self):
        self.dma_faults.clear()

    def _decode_quiet(self, name, addr):
        code = self.tables.codes[name]
        word = self.tables.peek(name, addr)
        return (word if code is None else code.decode(word)[0]) & M64

    def meta(self, obj_type, row) -> Meta:
        """Decoded meta word (corrected if possible), without counting or writing back."""
        t = ObjType(obj_type)
        return self.tables.decode_meta(t, self._decode_quiet(Tables.name(t, "meta"), row))

    def row_fields(self, obj_type, row):
        """Decoded data-row fields, without side effects."""
        t = ObjType(obj_type)
        n = data_words(t)
        data = sum(self._decode_quiet(Tables.name(t, "data"), row * n + w) << (64 * w) for w in range(n))
        return DATA[t].unpack(data)

    def request_indexes(self, row):
        """Pool indexes of the TCP row's request list, in posted order (no side effects)."""
        m = self.meta(ObjType.TCP, row)
        out, idx = [], m.req_head
        if not m.valid or m.poisoned:
            return out
        for _ in range(m.req_count):
            e = self.tables.decode_entry(self._decode_quiet("req_pool", idx))
            if not e.used or e.poisoned:
                break
            out.append(idx)
            idx = e.next
        return out

    def requests(self, row):
        """The TCP row's request list as PoolEntry objects, without side effects."""
        return [self.tables.decode_entry(self._decode_quiet("req_pool", i)) for i in self.request_indexes(row)]

    def live_rows(self, obj_type):
        return [r for r in range(self.params.depth(obj_type)) if self.meta(obj_type, r).valid]
