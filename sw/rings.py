"""The driver's lowest layer: bring-up and the three rings, over `Device` + `HostMemory`.

`EngineRings` owns the ring memory, submits command descriptors (CMDQ_PROD doorbell),
and drains the completion and event rings by phase bit into software buffers,
advancing CPLQ_CONS / EVTQ_CONS at once (so the engine, which may write a command's
events before its completion, never waits on the driver). `pop_in_order()` then hands
out entries strictly in `seq` order across both rings.
"""

import logging
from collections import deque
from dataclasses import dataclass

from chimney.contract import (COMMAND, COMPLETION, EVENT, COMMAND_BYTES, COMPLETION_BYTES, EVENT_BYTES,
                              ID_VALUE, EngineParams)
from chimney.contract.windows import EMPTY, GRAIN, reset_windows

from .bus import DeviceTimeout, wait_irq_within
from .regs import Registers

log = logging.getLogger("chimney.sw")

M16 = 0xFFFF


class DeviceError(Exception):
    """The engine is unusable (wrong ID, bad ring configuration, halted)."""


@dataclass
class RingEntry:
    kind: str            # "cpl" or "evt"
    fields: dict         # decoded COMPLETION / EVENT fields

    @property
    def seq(self):
        return self.fields["seq"]


class EngineRings:
    def __init__(self, device, memory, params: EngineParams = EngineParams(), *,
                 cmd_log2=6, cpl_log2=6, evt_log2=6, ready_timeout_ns=2_000_000, poll_ns=1000,
                 windows=None):
        self.device = device
        self.memory = memory
        self.params = params
        self.regs = Registers(device, params)
        self.log2 = {"CMDQ": cmd_log2, "CPLQ": cpl_log2, "EVTQ": evt_log2}
        self.ready_timeout_ns = ready_timeout_ns
        self.poll_ns = poll_ns
        # DMA windows [(base, limit)] programmed at every start (None: the reset windows,
        # all of memory); the rings must lie inside them (chimney.contract.windows)
        self.windows = windows
        self.regions = {}
        self.cmd_prod = 0
        self.cmd_cons = 0                 # last CMDQ_CONS read
        self.cons = {"CPLQ": 0, "EVTQ": 0}
        self.next_seq = 0
        self.buffers = {"cpl": deque(), "evt": deque()}
        self.err_seen = 0                 # ERR_STATUS bits seen (accumulated)

    # --- bring-up --------------------------------------------------------------
    async def _delay(self, ns):
        """A bounded wait: the interrupt is masked off during bring-up."""
        await wait_irq_within(self.device, ns)

    async def start(self, irq_mask=0b111):
        """Reset, wait for READY, program and clear the rings, set IRQ_MASK, ENABLE."""
        regs = self.regs
        ident = await regs.read("ID")
        if ident != ID_VALUE:
            raise DeviceError(f"ID reads {ident:#x}, expected {ID_VALUE:#x}")
        for reg, want in (("CAP_NEIGHBOR", self.params.n_neighbor), ("CAP_PATH", self.params.n_path),
                          ("CAP_TCP", self.params.n_tcp), ("CAP_REQ", self.params.n_req)):
            got = await regs.read(reg)
            if got != want:
                raise DeviceError(f"{reg} reads {got}, the driver was built for {want}")
        await regs.write("IRQ_MASK", 0)
        await regs.write_fields("CTRL", RESET=1)
        waited = 0
        while not (await regs.read_field("STATUS.READY")):
            if waited >= self.ready_timeout_ns:
                raise DeviceTimeout(f"STATUS.READY not set within {self.ready_timeout_ns} ns after reset")
            await self._delay(self.poll_ns)
            waited += self.poll_ns
        # clear anything left from before the reset (the model and RTL may differ here)
        await regs.write("ERR_STATUS", 0xFFFFFFFF)
        await regs.write("IRQ_STATUS", 0xFFFFFFFF)
        for q, entry in (("CMDQ", COMMAND_BYTES), ("CPLQ", COMPLETION_BYTES), ("EVTQ", EVENT_BYTES)):
            size = entry << self.log2[q]
            if q not in self.regions:
                self.regions[q] = self.memory.alloc(size, 64)
            self.memory.write(self.regions[q].addr, bytes(size))       # phase 0 everywhere
            await regs.write64(f"{q}_BASE_LO", f"{q}_BASE_HI", self.regions[q].addr)
            await regs.write_fields(f"{q}_SIZE", LOG2=self.log2[q])
        self.cmd_prod = self.cmd_cons = 0
        self.cons = {"CPLQ": 0, "EVTQ": 0}
        self.next_seq = 0
        self.buffers = {"cpl": deque(), "evt": deque()}
        windows = list(self.windows or [])
        if len(windows) > self.params.n_windows:
            raise ValueError(f"{len(windows)} DMA windows, the engine has {self.params.n_windows}")
        defaults = reset_windows(self.params)
        windows = windows + [EMPTY] * (self.params.n_windows - len(windows)) if windows else defaults
        for i, (base, limit) in enumerate(windows):
            if base % GRAIN or (limit + 1) % GRAIN:
                raise ValueError(f"window {i} [{base:#x}, {limit:#x}]: whole 8-byte beats only")
        await regs.write_windows(windows)
        await regs.write("IRQ_MASK", irq_mask)
        await regs.write_fields("CTRL", ENABLE=1)
        for _ in range(8):                        # the engine checks the rings, then enables
            status = regs.decode("STATUS", await regs.read("STATUS"))
            if status["ENABLED"]:
                break
        if not status["ENABLED"]:
            err = await regs.read("ERR_STATUS")
            raise DeviceError(f"engine did not enable (STATUS={status}, ERR_STATUS={err:#x})")

    # --- commands ------------------------------------------------------------------
    def ring_entries(self, q):
        return 1 << self.log2[q]

    async def free_slots(self):
        used = (self.cmd_prod - self.cmd_cons) & M16
        if used >= self.ring_entries("CMDQ"):
            self.cmd_cons = await self.regs.read("CMDQ_CONS") & M16
            used = (self.cmd_prod - self.cmd_cons) & M16
        return self.ring_entries("CMDQ") - used

    async def submit(self, commands):
        """Write as many descriptors as fit, then one doorbell. Returns how many were taken."""
        n = 0
        free = await self.free_slots()
        base = self.regions["CMDQ"].addr
        for cmd in commands:
            if n >= free:
                break
            slot = (self.cmd_prod + n) & (self.ring_entries("CMDQ") - 1)
            self.memory.write(base + slot * COMMAND_BYTES, COMMAND.to_bytes(cmd))
            n += 1
        if n:
            self.cmd_prod = (self.cmd_prod + n) & M16
            await self.regs.write_fields("CMDQ_PROD", INDEX=self.cmd_prod)
        return n

    # --- completions and events ----------------------------------------------------
    async def ack_irq(self):
        """Read and clear IRQ_STATUS; on ERR also read and clear ERR_STATUS. Returns both."""
        irq = await self.regs.read("IRQ_STATUS")
        err = 0
        if irq:
            await self.regs.write("IRQ_STATUS", irq)
        if irq & 0b100:
            err = await self.regs.read("ERR_STATUS")
            if err:
                await self.regs.write("ERR_STATUS", err)
                self.err_seen |= err
        return irq, err

    def _drain_ring(self, q, kind, layout, nbytes):
        base = self.regions[q].addr
        log2 = self.log2[q]
        got = 0
        while True:
            cons = self.cons[q]
            slot = cons & ((1 << log2) - 1)
            expected_phase = 1 ^ (cons >> log2 & 1)
            fields = layout.from_bytes(self.memory.read(base + slot * nbytes, nbytes))
            if fields["phase"] != expected_phase:
                return got
            self.buffers[kind].append(RingEntry(kind, fields))
            self.cons[q] = (cons + 1) & M16
            got += 1

    async def drain(self):
        """Move every new completion and event into the software buffers and give the
        slots back to the engine. Returns the number of entries taken."""
        n_cpl = self._drain_ring("CPLQ", "cpl", COMPLETION, COMPLETION_BYTES)
        n_evt = self._drain_ring("EVTQ", "evt", EVENT, EVENT_BYTES)
        if n_cpl:
            await self.regs.write_fields("CPLQ_CONS", INDEX=self.cons["CPLQ"])
        if n_evt:
            await self.regs.write_fields("EVTQ_CONS", INDEX=self.cons["EVTQ"])
        return n_cpl + n_evt

    def pop_in_order(self):
        """The next entry in seq order, or None if it has not arrived yet. Each ring is in
        seq order by itself, so the next entry is at the head of one of the two buffers."""
        for kind in ("cpl", "evt"):
            buf = self.buffers[kind]
            if buf and buf[0].seq == self.next_seq:
                self.next_seq = (self.next_seq + 1) & M16
                return buf.popleft()
        return None

    def buffered(self):
        return len(self.buffers["cpl"]) + len(self.buffers["evt"])

    async def halted(self):
        return bool(await self.regs.read_field("STATUS.HALTED"))
