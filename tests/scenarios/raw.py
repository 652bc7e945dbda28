"""A deliberately small ring client for RTL tests: raw descriptors in, raw entries out.

It speaks the contract directly (no NDIS layer), so engine tests can check exactly
what the hardware wrote, on any backend that offers the Device and HostMemory
protocols. The real driver is chimney.sw.driver.
"""

from chimney.contract import (COMMAND, COMPLETION, EVENT, LIST_ENTRY, REQ_HEADER, REQ_RECORD, DATA, ObjType,
                              Opcode, WRITE_BACK, DELEGATED, data_words)
from chimney.sw.bus import DeviceTimeout, wait_irq_within


class RawRings:
    def __init__(self, regs, mem, *, log2=4, timeout_ns=2_000_000):
        self.regs = regs
        self.dev = regs.device
        self.mem = mem
        self.log2 = log2
        self.size = 1 << log2
        self.timeout_ns = timeout_ns
        self.cmd_prod = 0
        self.cpl_cons = 0
        self.evt_cons = 0
        self.tag = 0
        self.events = []                 # every event seen, in ring order

    async def start(self, poll_ns=1000):
        # READY polled as the driver does: a read, then a pause (the interrupt is masked
        # until the rings are set up), not a register read per cycle
        waited = 0
        while not await self.regs.read_field("STATUS.READY"):
            if waited >= self.timeout_ns:
                raise DeviceTimeout(f"engine not READY within {self.timeout_ns} ns")
            await wait_irq_within(self.dev, poll_ns)
            waited += poll_ns
        self.cmdq = self.mem.alloc(32 * self.size, 64)
        self.cplq = self.mem.alloc(16 * self.size, 64)
        self.evtq = self.mem.alloc(16 * self.size, 64)
        for region in (self.cmdq, self.cplq, self.evtq):
            self.mem.write(region.addr, bytes(region.size))
        for prefix, region in (("CMDQ", self.cmdq), ("CPLQ", self.cplq), ("EVTQ", self.evtq)):
            await self.regs.write64(f"{prefix}_BASE_LO", f"{prefix}_BASE_HI", region.addr)
            await self.regs.write_fields(f"{prefix}_SIZE", LOG2=self.log2)
        await self.regs.write_fields("IRQ_MASK", CPL=1, EVT=1, ERR=1)
        await self.regs.write_fields("CTRL", ENABLE=1)
        for _ in range(100):                      # the engine takes the write between commands
            if await self.regs.read_field("STATUS.ENABLED"):
                break
        else:
            raise AssertionError("engine did not enable: " + str(self.regs.decode("ERR_STATUS", await self.regs.read("ERR_STATUS"))))

    async def restart(self):
        """After CTRL.RESET: host indices from 0 again, fresh rings, enable."""
        self.cmd_prod = self.cpl_cons = self.evt_cons = 0
        await self.start()

    # ---- commands ---------------------------------------------------------------------
    def _put(self, opcode, fields):
        """Write one descriptor into the next slot (no doorbell); returns its tag."""
        self.tag = (self.tag + 1) & 0xFFFF
        slot = self.cmd_prod % self.size
        self.mem.write(self.cmdq.addr + 32 * slot,
                       COMMAND.to_bytes(opcode=int(opcode), tag=self.tag, **fields))
        self.cmd_prod = (self.cmd_prod + 1) & 0xFFFF
        return self.tag

    async def submit(self, opcode, **fields):
        tag = self._put(opcode, fields)
        await self.regs.write_fields("CMDQ_PROD", INDEX=self.cmd_prod)
        return tag

    def _entry(self, ring, layout, index):
        raw = self.mem.read(ring.addr + 16 * (index % self.size), 16)
        value = layout.from_bytes(raw)
        phase = 1 - ((index >> self.log2) & 1)
        return value if value["phase"] == phase else None

    def poll_events(self):
        new = []
        while (ev := self._entry(self.evtq, EVENT, self.evt_cons)) is not None:
            new.append(ev)
            self.evt_cons = (self.evt_cons + 1) & 0xFFFF
        self.events += new
        return new

    async def completion(self):
        return (await self.completions(1))[0]

    async def completions(self, n):
        """The next n completions; CPLQ_CONS is written once they are all in (a batch's
        completions fit the ring, so the engine never waits for it)."""
        got = []
        waited = 0
        step = 2000
        while True:
            while len(got) < n and (cpl := self._entry(self.cplq, COMPLETION, self.cpl_cons)) is not None:
                got.append(cpl)
                self.cpl_cons = (self.cpl_cons + 1) & 0xFFFF
            if len(got) == n:
                await self.regs.write("IRQ_STATUS", self.regs.encode("IRQ_STATUS", CPL=1, EVT=1))
                await self.regs.write_fields("CPLQ_CONS", INDEX=self.cpl_cons)
                if self.poll_events():
                    await self.regs.write_fields("EVTQ_CONS", INDEX=self.evt_cons)
                return got
            if waited > self.timeout_ns * n:
                raise DeviceTimeout(f"{len(got)} of {n} completions within {self.timeout_ns * n} ns")
            await wait_irq_within(self.dev, step)
            waited += step
            await self.regs.write("IRQ_STATUS", self.regs.encode("IRQ_STATUS", CPL=1, EVT=1))

    async def run(self, opcode, **fields):
        return (await self.batch([(opcode, fields)]))[0]

    async def batch(self, cmds):
        """(opcode, fields) pairs behind one doorbell; their completions in order.
        At most a ring's worth: the engine takes them back to back."""
        assert len(cmds) <= self.size, f"{len(cmds)} commands for a {self.size}-entry ring"
        tags = [self._put(opcode, fields) for opcode, fields in cmds]
        await self.regs.write_fields("CMDQ_PROD", INDEX=self.cmd_prod)
        cpls = await self.completions(len(cmds))
        for cpl, tag, (opcode, _) in zip(cpls, tags, cmds):
            assert cpl["tag"] == tag and cpl["opcode"] == int(opcode), (cpl, tag, opcode)
        return cpls

    # ---- objects ------------------------------------------------------------------------
    def load_block(self, obj_type, fields):
        """An OFFLOAD/UPDATE load block holding `fields` (a Region of host memory)."""
        obj_type = ObjType(obj_type)
        block = self.mem.alloc(8 * data_words(obj_type), 64)
        self.mem.write(block.addr, DATA[obj_type].to_bytes(fields))
        return block

    async def offload(self, obj_type, fields, *, parent=0, host_handle=0):
        obj_type = ObjType(obj_type)
        block = self.load_block(obj_type, fields)
        cpl = await self.run(Opcode.OFFLOAD, obj_type=int(obj_type), handle=parent, addr=block.addr,
                             cookie=host_handle)
        self.mem.free(block)
        return cpl

    def list_for(self, objects, *, req_cap=0):
        """Host buffers and a list for (handle, parent_index, obj_type) tuples."""
        entries, bufs = [], []
        for handle, parent, obj_type in objects:
            st = self.mem.alloc(DELEGATED[ObjType(obj_type)].size, 8)
            self.mem.write(st.addr, bytes(st.size))
            status = self.mem.alloc(4, 4)
            self.mem.write(status.addr, b"\xEE\xEE\xEE\xEE")          # poison: must be overwritten
            req = self.mem.alloc(8 + 8 * max(req_cap, 1), 8)
            self.mem.write(req.addr, b"\xEE" * req.size)
            entries.append(LIST_ENTRY.to_bytes(handle=handle, parent=parent, req_cap=req_cap,
                                               state_addr=st.addr, status_addr=status.addr, req_addr=req.addr))
            bufs.append({"state": st, "status": status, "req": req, "type": ObjType(obj_type)})
        lst = self.mem.alloc(32 * len(entries), 64)
        self.mem.write(lst.addr, b"".join(entries))
        return lst, bufs

    def read_status(self, buf):
        return int.from_bytes(self.mem.read(buf["status"].addr, 4), "little")

    def read_delegated(self, buf):
        wb = WRITE_BACK[buf["type"]]
        return self.mem.read(buf["state"].addr + wb.start, wb.nbytes)

    def read_requests(self, buf):
        hdr = REQ_HEADER.from_bytes(self.mem.read(buf["req"].addr, 8))
        recs = [REQ_RECORD.from_bytes(self.mem.read(buf["req"].addr + 8 + 8 * i, 8))
                for i in range(min(hdr["count"], 4096))]
        return hdr, recs
