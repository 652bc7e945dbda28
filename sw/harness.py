"""A raw command harness: descriptors in, ring entries out, no NDIS layer.

`RawHost` drives any `Device` + `HostMemory` pair through `EngineRings` with hand-built
commands and list entries, and reads back exactly what the engine wrote. Over the
reference model every coroutine completes without suspending, so the synchronous
wrappers (`run_sync`) work; over a simulator use the `a*` coroutines.
"""

from dataclasses import dataclass, field

from chimney.contract import (EngineParams, Opcode, ObjType, DATA, DELEGATED, WRITE_BACK, LIST_ENTRY,
                              LIST_ENTRY_BYTES, REQ_HEADER, REQ_RECORD, REQ_HEADER_BYTES, REQ_RECORD_BYTES)
from .rings import EngineRings

#: Status word value the harness writes before a command, to see what was written.
UNWRITTEN = 0xDEADBEEF
STATE_FILL = 0xA5


def run_sync(coro):
    """Run a coroutine that never suspends (true over the reference model)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("coroutine suspended: use asyncio / the simulator's scheduler")


@dataclass
class Entry:
    """One QUERY/TERMINATE list entry with its own status/state/request buffers."""
    handle: int
    parent: int = 0
    req_cap: int = 0
    state_addr: int = 0
    status_addr: int = 0
    req_addr: int = 0
    regions: list = field(default_factory=list)
    detached: int = 0

    def fields(self):
        return dict(handle=self.handle, parent=self.parent, req_cap=self.req_cap, detached=self.detached,
                    state_addr=self.state_addr, status_addr=self.status_addr, req_addr=self.req_addr)


class RawHost:
    def __init__(self, device, memory, params: EngineParams = EngineParams(), **ring_kw):
        self.device = device
        self.memory = memory
        self.params = params
        self.rings = EngineRings(device, memory, params, **ring_kw)
        self.tag = 0
        self.log = []                 # every ring entry delivered, in seq order

    @classmethod
    def over_model(cls, params: EngineParams = EngineParams(), mem_size=1 << 22, **ring_kw):
        """A started RawHost over a fresh RefEngine; the engine is `host.engine`."""
        from .model import RefEngine, SimpleHostMemory
        mem = SimpleHostMemory(mem_size)
        host = cls(RefEngine(params, mem), mem, params, **ring_kw)
        host.engine = host.device
        host.start()
        return host

    # --- async core -----------------------------------------------------------------
    async def astart(self):
        await self.rings.start()

    async def acollect(self):
        await self.rings.ack_irq()
        out = []
        while await self.rings.drain():
            pass
        while True:
            e = self.rings.pop_in_order()
            if e is None:
                break
            out.append(e)
        self.log.extend(out)
        return out

    async def asubmit(self, **cmd):
        if "tag" not in cmd:
            self.tag = (self.tag + 1) & 0xFFFF
            cmd["tag"] = self.tag
        cmd.setdefault("rsvd", 0)
        taken = await self.rings.submit([cmd])
        assert taken == 1, "command ring full"
        return await self.acollect()

    # --- sync wrappers (reference model) -------------------------------------------
    def start(self):
        return run_sync(self.astart())

    def collect(self):
        return run_sync(self.acollect())

    def submit(self, **cmd):
        """Submit one command; return the ring entries (completions and events) that
        arrived, in seq order."""
        return run_sync(self.asubmit(**cmd))

    def cmd(self, **cmd):
        """Submit one command and return (its completion fields, events after it)."""
        entries = self.submit(**cmd)
        cpls = [e.fields for e in entries if e.kind == "cpl"]
        evts = [e.fields for e in entries if e.kind == "evt"]
        assert len(cpls) == 1, entries
        return cpls[0], evts

    # --- building blocks -------------------------------------------------------------
    def load_block(self, obj_type, **fields):
        t = ObjType(obj_type)
        raw = DATA[t].to_bytes(fields)
        region = self.memory.alloc(len(raw), 8)
        self.memory.write(region.addr, raw)
        return region.addr

    def offload(self, obj_type, parent=0, cookie=0, **fields):
        return self.cmd(opcode=Opcode.OFFLOAD, obj_type=int(obj_type), handle=parent,
                        addr=self.load_block(obj_type, **fields), cookie=cookie)

    def post(self, handle, cookie, length, recv=False):
        return self.cmd(opcode=Opcode.POST_RECV if recv else Opcode.POST_SEND, handle=handle,
                        cookie=cookie, count=length)

    def update(self, obj_type, handle, **fields):
        return self.cmd(opcode=Opcode.UPDATE, obj_type=int(obj_type), handle=handle,
                        addr=self.load_block(obj_type, **fields))

    def entry(self, handle, parent=0, req_cap=0, obj_type=None, detached=0):
        """A list entry with fresh buffers: Status = UNWRITTEN, delegated struct filled
        with 0xA5 (header included), request array of req_cap records filled with 0xA5."""
        t = ObjType(obj_type if obj_type is not None else (handle >> 24) & 3 or 1)
        e = Entry(handle, parent, req_cap, detached=detached)
        st = self.memory.alloc(8, 8)
        self.memory.write(st.addr, UNWRITTEN.to_bytes(4, "little"))
        size = DELEGATED[t].size
        sd = self.memory.alloc(size, 8)
        self.memory.write(sd.addr, bytes([STATE_FILL]) * size)
        rq = self.memory.alloc(REQ_HEADER_BYTES + REQ_RECORD_BYTES * max(req_cap, 1), 8)
        self.memory.write(rq.addr, bytes([STATE_FILL]) * rq.size)
        e.status_addr, e.state_addr, e.req_addr = st.addr, sd.addr, rq.addr
        e.regions = [st, sd, rq]
        return e

    def list_addr(self, entries):
        region = self.memory.alloc(LIST_ENTRY_BYTES * max(len(entries), 1), 8)
        self.memory.write(region.addr, b"".join(LIST_ENTRY.to_bytes(e.fields()) for e in entries))
        return region.addr

    def query(self, entries, count=None):
        return self.cmd(opcode=Opcode.QUERY, addr=self.list_addr(entries),
                        count=len(entries) if count is None else count)

    def terminate(self, entries, count=None):
        return self.cmd(opcode=Opcode.TERMINATE, addr=self.list_addr(entries),
                        count=len(entries) if count is None else count)

    # --- reading back -------------------------------------------------------------------
    def status(self, e: Entry):
        return int.from_bytes(self.memory.read(e.status_addr, 4), "little")

    def state_bytes(self, e: Entry, obj_type):
        return self.memory.read(e.state_addr, DELEGATED[ObjType(obj_type)].size)

    def delegated(self, e: Entry, obj_type):
        """The written-back delegated variables as {row field: value}, or None if the
        bytes the engine writes still hold the fill pattern."""
        t = ObjType(obj_type)
        wb = WRITE_BACK[t]
        raw = self.state_bytes(e, t)
        if wb.nbytes and raw[wb.start:wb.end] == bytes([STATE_FILL]) * wb.nbytes:
            return None
        return {name: int.from_bytes(raw[off:off + size], "little") for name, off, size in wb.fields}

    def requests(self, e: Entry):
        """(header fields, [record fields])."""
        hdr = REQ_HEADER.from_bytes(self.memory.read(e.req_addr, REQ_HEADER_BYTES))
        n = min(hdr["count"], max(e.req_cap, 0))
        recs = [REQ_RECORD.from_bytes(self.memory.read(e.req_addr + REQ_HEADER_BYTES + REQ_RECORD_BYTES * i,
                                                       REQ_RECORD_BYTES)) for i in range(n)]
        return hdr, recs


def expected_delegated(obj_type, row_fields):
    """What WRITE_BACK writes for a row: {row field: value} (for comparisons)."""
    return {name: row_fields[name] for name, _, _ in WRITE_BACK[ObjType(obj_type)].fields}


class DriverBench:
    """The driver over the reference model with a recording host stack (tests, demos).

    Each helper calls the driver's entry point and then `run_until_idle`, synchronously
    (over the model nothing ever suspends)."""

    def __init__(self, params: EngineParams = EngineParams(), *, ring_log2=6, mem_size=1 << 23, **driver_kw):
        from .model import RefEngine, SimpleHostMemory
        from .driver import ChimneyDriver
        from .hoststack import RecordingHostStack
        self.params = params
        self.memory = SimpleHostMemory(mem_size)
        self.engine = RefEngine(params, self.memory)
        self.host = RecordingHostStack()
        self.driver = ChimneyDriver(self.engine, self.memory, self.host, params, ring_log2=ring_log2, **driver_kw)
        run_sync(self.driver.start())

    def run(self, coro):
        run_sync(coro)
        run_sync(self.driver.run_until_idle())

    def initiate(self, tree):
        self.run(self.driver.initiate_offload(tree))

    def terminate(self, tree):
        self.run(self.driver.terminate_offload(tree))

    def query(self, tree):
        self.run(self.driver.query_offload(tree))

    def update(self, tree):
        self.run(self.driver.update_offload(tree))

    def send(self, conn, nbls):
        self.run(self.driver.tcp_offload_send(conn, nbls))

    def receive(self, conn, nbls):
        self.run(self.driver.tcp_offload_receive(conn, nbls))

    def row(self, block):
        """(ObjType, index) of an offloaded block."""
        from chimney.contract import split_handle
        t, i, _, _ = split_handle(block.miniport_offload_context)
        return ObjType(t), i
