"""ChimneyDriver: the miniport between NDIS (the host stack) and the engine.

Layers (see docs/driver.md):

* upper edge: NDIS-shaped entry points (`initiate_offload`, `terminate_offload`,
  `query_offload`, `update_offload`, `tcp_offload_send`, `tcp_offload_receive`) and the
  `HostStack` callbacks; everything completes asynchronously through ring processing;
* operations: each entry point becomes an operation object that builds commands and
  host-memory images, and finishes when its last completion has been handled;
* objects and the shadow: every offloaded object the driver knows, and for each TCP
  connection the ordered shadow of its outstanding requests, cross-checked against
  every request record the engine returns;
* rings (`chimney.sw.rings.EngineRings`) over the two protocols `Device` + `HostMemory`.

The driver never imports a simulator: it runs unchanged over the reference model,
cocotb and Amaranth-sim.
"""

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from chimney.contract import (
    EngineParams, NdisStatus, ObjType, Opcode, ReqKind, Disposition, TcpEventType, TcpUploadReason,
    DATA, DELEGATED, WRITE_BACK, LIST_ENTRY, LIST_ENTRY_BYTES, REQ_HEADER, REQ_RECORD, REQ_HEADER_BYTES,
    REQ_RECORD_BYTES, MAX_LIST_ENTRIES, split_handle, ErrorCode,
)
from chimney.contract.checks import record_disposition

from .bus import DeviceTimeout, wait_irq_within
from .rings import EngineRings, DeviceError
from .ndis import (BlockList, HeaderType, NetBufferList, walk_tree, walk_dependents_first, load_fields,
                   apply_delegated, chain_nbls, iter_chain)

log = logging.getLogger("chimney.sw.driver")

M32 = 0xFFFFFFFF
REQ_CAP_MAX = (1 << LIST_ENTRY.field("req_cap").width) - 1


class DriverConsistencyError(Exception):
    """The engine returned something the driver's own records contradict."""


class DriverTimeout(DeviceTimeout):
    """run_until_idle ran out of time with work outstanding."""


@dataclass(eq=False)
class Request:
    """One outstanding send or receive, as the driver posted it (the shadow)."""
    cookie: int
    kind: ReqKind
    length: int
    nbl: NetBufferList
    acked: bool = False               # the POST completed with SUCCESS


@dataclass(eq=False)
class OffloadedObject:
    handle: int
    obj_type: ObjType
    index: int
    gen: int
    parent_index: int
    token: int                        # the host offload handle token given to the engine
    block: BlockList                  # the block of the initiate (events name it)
    failed: bool = False              # the driver has been told the state was lost
    lost: bool = False                # the engine can no longer be trusted with it: the driver
                                      # ends it itself (failure sequence, shadow completions)
    indicated: bool = False           # Retrieve/Abort have reached the host stack
    detached: bool = False            # TCP: a TERMINATE of it completed with FAILURE, so it gave
                                      # its path reference back (LIST_ENTRY.detached from then on)
    requests: deque = field(default_factory=deque)     # TCP: outstanding requests, posted order


@dataclass(eq=False)
class _Item:
    """One block of a QUERY/TERMINATE list and its host-memory image."""
    block: BlockList
    obj: Optional[OffloadedObject]
    handle: int
    parent: int
    region: object                    # Status word (+0) and delegated structure (+8)
    req_region: object = None
    req_cap: int = 0
    detached: bool = False            # LIST_ENTRY.detached (OffloadedObject.detached when listed)
    knew_failed: bool = False         # obj.failed when the completion was handled

    @property
    def status_addr(self):
        return self.region.addr

    @property
    def state_addr(self):
        return self.region.addr + 8


@dataclass(eq=False)
class _Op:
    kind: str
    tree: BlockList
    pending: int = 0
    regions: list = field(default_factory=list)
    local: list = field(default_factory=list)     # _Items the driver ends itself


class ChimneyDriver:
    def __init__(self, device, memory, host, params: EngineParams = EngineParams(), *,
                 ring_log2=6, irq_timeout_ns=1_000_000, **ring_kw):
        self.device = device
        self.memory = memory
        self.host = host
        self.params = params
        self.rings = EngineRings(device, memory, params, cmd_log2=ring_log2, cpl_log2=ring_log2,
                                 evt_log2=ring_log2, **ring_kw)
        self.irq_timeout_ns = irq_timeout_ns
        self.objects = {}             # (ObjType, index) -> OffloadedObject
        self._ended = {}              # TCP index -> object ended by a FAILURE terminate
        self.errors = []              # DriverConsistencyError, in the order found
        self.warnings = []
        self.halted = False
        self._soft_events = []        # (block, event type, info) the driver indicates itself
        self._queue = deque()         # (command, callback) not yet in the ring
        self._inflight = deque()      # (tag, command, callback) in ring order
        self._tag = 0
        self._cookie = 0
        self._token = 0
        self.started = False

    # ==================================================================
    # bring-up and servicing
    # ==================================================================
    async def start(self):
        """Reset the engine, wait for READY, set up the rings and interrupts, enable."""
        await self.rings.start()
        self.objects.clear()
        self._ended.clear()
        self._queue.clear()
        self._inflight.clear()
        self._soft_events.clear()
        self.halted = False
        self.started = True

    def idle(self):
        return not self._queue and not self._inflight and not self.rings.buffered()

    async def service(self):
        """The interrupt handler: read and clear IRQ_STATUS (and ERR_STATUS), drain both
        rings, deliver entries in seq order, refill the command ring."""
        _, err = await self.rings.ack_irq()
        if err:
            self._on_error_bits(err)
        if self.halted:
            self._adapter_failed()
            return
        while True:
            taken = await self.rings.drain()
            delivered = 0
            while True:
                entry = self.rings.pop_in_order()
                if entry is None:
                    break
                delivered += 1
                if entry.kind == "cpl":
                    self._on_completion(entry.fields)
                else:
                    self._on_event(entry.fields)
            await self._pump()
            if not taken and not delivered:
                break

    async def run_until_idle(self, timeout_ns=10_000_000):
        """Service until no command is queued or in flight. Every wait is bounded; raises
        DriverTimeout (work outstanding). A halted engine ends everything outstanding
        with the adapter-failure sequence (`_adapter_failed`) and returns."""
        waited = 0
        step = max(1, min(self.irq_timeout_ns, timeout_ns // 8 or 1))
        while True:
            await self.service()
            if self.idle():
                return
            if self.halted or await self.rings.halted():
                # the adapter failed: end every outstanding operation at the NDIS edge
                self.halted = True
                self._adapter_failed()
                return
            if waited >= timeout_ns:
                raise DriverTimeout(f"not idle after {timeout_ns} ns: {len(self._queue)} queued, "
                                    f"{len(self._inflight)} in flight, {self.rings.buffered()} buffered "
                                    f"(next seq {self.rings.next_seq})")
            if not await wait_irq_within(self.device, step):
                waited += step

    def _on_error_bits(self, err):
        names = [e.name for e in ErrorCode if e and err >> int(e) & 1]
        log.debug("ERR_STATUS %#x: %s", err, names)
        fatal = [e for e in (ErrorCode.DMA_WRITE, ErrorCode.INTERNAL) if err >> int(e) & 1]
        if fatal:
            self.halted = True
            self._report(f"engine halted ({', '.join(e.name for e in fatal)}, ERR_STATUS {err:#x})")

    def _report(self, msg):
        e = DriverConsistencyError(msg)
        self.errors.append(e)
        log.error("driver consistency: %s", msg)
        return e

    # ==================================================================
    # failures the driver ends itself
    # ==================================================================
    def _lose(self, obj, block=None):
        """The engine cannot be trusted with `obj` any more (it refused a request for an
        object it holds, or it halted). A TCP connection gets the hardware-failure
        sequence from the driver: FAILURE now, then Retrieve(HardwareFailure) and Abort;
        its requests stay until the host terminates it, then complete REQUEST_ABORTED."""
        if obj.obj_type == ObjType.TCP and not obj.indicated:
            obj.indicated = True
            self._soft_events.append((obj.block, TcpEventType.RETRIEVE, int(TcpUploadReason.HARDWARE_FAILURE)))
            self._soft_events.append((obj.block, TcpEventType.ABORT, 0))
        obj.failed = True
        obj.lost = True

    def _flush_soft_events(self):
        events, self._soft_events = self._soft_events, []
        for block, ev, info in events:
            self.host.indicate_event(block, ev, info)

    def _end_locally(self, item, terminate):
        """A block of a list the engine is not asked about: its object is lost (or gone)."""
        obj, b = item.obj, item.block
        b.status = NdisStatus.FAILURE
        b.net_buffer_list_chain = None
        if obj is None or not terminate:
            return
        if obj.obj_type == ObjType.TCP:
            for req in list(obj.requests):
                self._complete_request(req, NdisStatus.REQUEST_ABORTED)
            obj.requests.clear()
        self.objects.pop((obj.obj_type, obj.index), None)

    def _adapter_failed(self):
        """The engine halted (DMA write error, timeout, state upset): nothing it holds can be
        trusted. Every command in flight or queued completes here, every offloaded
        connection gets the failure sequence, and later operations end locally."""
        pending = [(cmd, cb) for _, cmd, cb in self._inflight] + list(self._queue)
        self._inflight.clear()
        self._queue.clear()
        for cmd, cb in pending:
            post = cmd["opcode"] in (Opcode.POST_SEND, Opcode.POST_RECV)
            status = NdisStatus.REQUEST_ABORTED if post else NdisStatus.FAILURE
            cb({"status": int(status), "result": 0, "tag": cmd["tag"], "err_index": 0xFFFF,
                "detail": 0, "opcode": cmd["opcode"], "halted": True})
        for obj in list(self.objects.values()):
            self._lose(obj)
        self._flush_soft_events()

    # ==================================================================
    # command queue
    # ==================================================================
    def _enqueue(self, cmd, callback):
        self._tag = (self._tag + 1) & 0xFFFF
        cmd = dict(cmd, tag=self._tag)
        cmd.setdefault("rsvd", 0)
        self._queue.append((cmd, callback))

    async def _pump(self):
        """Move queued commands into the ring while it has space (ring full: they wait)."""
        if not self._queue or self.halted:
            return
        free = await self.rings.free_slots()
        batch = []
        while self._queue and len(batch) < free:
            cmd, cb = self._queue.popleft()
            self._inflight.append((cmd["tag"], cmd, cb))
            batch.append(cmd)
        if batch:
            await self.rings.submit(batch)

    def _on_completion(self, f):
        if not self._inflight:
            self._report(f"completion with tag {f['tag']} but no command in flight")
            return
        tag, cmd, cb = self._inflight[0]
        if f["tag"] != tag or (f["opcode"] & 0xF) != (cmd["opcode"] & 0xF):
            self._report(f"completion tag {f['tag']} opcode {f['opcode']} does not match the oldest "
                         f"command (tag {tag}, opcode {cmd['opcode']})")
            match = [i for i, (t, _, _) in enumerate(self._inflight) if t == f["tag"]]
            if not match:
                return
            tag, cmd, cb = self._inflight[match[0]]
            del self._inflight[match[0]]
        else:
            self._inflight.popleft()
        cb(f)

    # ==================================================================
    # objects
    # ==================================================================
    def lookup(self, block) -> Optional[OffloadedObject]:
        ctx = block.miniport_offload_context
        if ctx is None:
            return None
        t, idx, _, _ = split_handle(ctx)
        obj = self.objects.get((t, idx))
        return obj if obj is not None and obj.handle == ctx else None

    def _next_token(self):
        self._token = self._token % M32 + 1
        return self._token

    def _next_cookie(self):
        self._cookie = self._cookie % M32 + 1
        return self._cookie

    def _alloc(self, op, size, align=8):
        r = self.memory.alloc(size, align)
        op.regions.append(r)
        return r

    def _finish(self, op):
        for r in op.regions:
            self.memory.free(r)
        op.regions.clear()

    # ==================================================================
    # InitiateOffload
    # ==================================================================
    async def initiate_offload(self, tree: BlockList):
        """Offload a tree: each parent first (its children need its handle)."""
        op = _Op("initiate", tree)
        op.pending = sum(1 for _ in walk_tree(tree))
        for b in tree.siblings():
            self._offload_block(op, b, None)
        await self._pump()

    def _offload_block(self, op, b, parent: Optional[OffloadedObject]):
        existing = self.lookup(b)
        if existing is not None:
            # already offloaded (the host may include it as the parent of new objects)
            b.status = NdisStatus.SUCCESS
            self._block_done(op)
            for d in b.dependents():
                self._offload_block(op, d, existing)
            return
        t = ObjType(b.header_type)
        token = self._next_token()
        b.ndis_offload_handle = b.ndis_offload_handle if b.ndis_offload_handle is not None else token
        raw = DATA[t].to_bytes(load_fields(b))
        region = self._alloc(op, len(raw))
        self.memory.write(region.addr, raw)

        def done(f):
            if f["status"] == NdisStatus.SUCCESS:
                ht, idx, gen, _ = split_handle(f["result"])
                if ht != t or (t, idx) in self.objects:
                    self._report(f"OFFLOAD returned handle {f['result']:#x} for a {t.name} "
                                 f"({'row already in use' if (t, idx) in self.objects else 'wrong type'})")
                obj = OffloadedObject(f["result"], t, idx, gen, parent.index if parent else 0, token, b)
                self.objects[(t, idx)] = obj
                if t == ObjType.TCP:
                    self._ended.pop(idx, None)
                b.miniport_offload_context = f["result"]
                b.status = NdisStatus.SUCCESS
                self._block_done(op)
                for d in b.dependents():
                    self._offload_block(op, d, obj)
            else:
                # DECISION: dependents of a block that could not be offloaded get its status.
                for x in walk_tree_from(b):
                    x.status = f["status"]
                    self._block_done(op)

        self._enqueue(dict(opcode=Opcode.OFFLOAD, obj_type=int(t), handle=parent.handle if parent else 0,
                           addr=region.addr, cookie=token, count=0), done)

    def _block_done(self, op):
        op.pending -= 1
        if op.pending == 0:
            self._finish(op)
            self.host.initiate_offload_complete(op.tree)

    # ==================================================================
    # UpdateOffload
    # ==================================================================
    async def update_offload(self, tree: BlockList):
        """Replace cached state of offloaded objects (one UPDATE per block)."""
        op = _Op("update", tree)
        blocks = list(walk_tree(tree))
        op.pending = len(blocks)
        for b in blocks:
            obj = self.lookup(b)
            t = ObjType(b.header_type)
            raw = DATA[t].to_bytes(update_fields(b, obj.block if obj else None))
            region = self._alloc(op, len(raw))
            self.memory.write(region.addr, raw)

            def done(f, b=b, obj=obj):
                b.status = f["status"]
                if f["status"] == NdisStatus.SUCCESS and obj is not None:
                    obj.block.cached = b.cached            # the driver keeps cached state
                elif f["detail"] == ErrorCode.CONN_FAILED and obj is not None:
                    obj.failed = True
                op.pending -= 1
                if op.pending == 0:
                    self._finish(op)
                    self.host.update_offload_complete(tree)

            self._enqueue(dict(opcode=Opcode.UPDATE, obj_type=int(t),
                               handle=b.miniport_offload_context or 0, addr=region.addr, count=0, cookie=0), done)
        if not blocks:
            self.host.update_offload_complete(tree)
        await self._pump()

    # ==================================================================
    # sends and receives
    # ==================================================================
    async def tcp_offload_send(self, conn_block: BlockList, nbls):
        await self._post(conn_block, nbls, ReqKind.SEND)

    async def tcp_offload_receive(self, conn_block: BlockList, nbls):
        await self._post(conn_block, nbls, ReqKind.RECV)

    async def _post(self, conn_block, nbls, kind):
        if isinstance(nbls, NetBufferList):
            nbls = list(iter_chain(nbls))
        obj = self.lookup(conn_block)
        handle = conn_block.miniport_offload_context or 0
        for nbl in nbls:
            nbl.cookie = self._next_cookie()
            req = Request(nbl.cookie, kind, nbl.length, nbl)
            if obj is not None:
                obj.requests.append(req)           # the shadow, in posted order

            def done(f, req=req, obj=obj):
                if f["status"] == NdisStatus.SUCCESS:
                    req.acked = True
                    return
                # refused: the request was never stored; complete it now
                if obj is not None:
                    try:
                        obj.requests.remove(req)
                    except ValueError:
                        self._report(f"refused request {req.cookie} not in the shadow")
                    if f["detail"] == ErrorCode.CONN_FAILED:
                        obj.failed = True           # NDIS_STATUS_REQUEST_ABORTED
                self._complete_request(req, f["status"])

            self._enqueue(dict(opcode=Opcode.POST_SEND if kind == ReqKind.SEND else Opcode.POST_RECV,
                               handle=handle, count=min(nbl.length, M32), cookie=nbl.cookie, addr=0, obj_type=0), done)
        await self._pump()

    def _complete_request(self, req, status):
        if req.kind == ReqKind.SEND:
            self.host.send_complete(req.nbl, status)
        else:
            self.host.receive_complete(req.nbl, status)

    # ==================================================================
    # QueryOffload and TerminateOffload
    # ==================================================================
    async def query_offload(self, tree: BlockList):
        await self._list_op("query", tree)

    async def terminate_offload(self, tree: BlockList):
        await self._list_op("terminate", tree)

    def _parent_index(self, b, obj, parents):
        if obj is not None:
            return obj.parent_index
        p = parents.get(id(b))
        if p is not None and p.miniport_offload_context is not None:
            return split_handle(p.miniport_offload_context)[1]
        return 0

    async def _list_op(self, kind, tree):
        """One list, dependents first (each path's TCP connections, then the path; each
        neighbor's paths, then the neighbor); one command per MAX_LIST_ENTRIES."""
        terminate = kind == "terminate"
        op = _Op(kind, tree)
        parents = {}
        for b in walk_tree(tree):
            for d in b.dependents():
                parents[id(d)] = b
        items = []
        for b in walk_dependents_first(tree):
            obj = self.lookup(b)
            t = HeaderType(b.header_type)
            if self.halted or (obj is not None and obj.lost):
                # the engine is not asked: this object ends by the driver's own sequence
                op.local.append(_Item(b, obj, b.miniport_offload_context or 0, 0, None))
                continue
            size = DELEGATED[ObjType(t)].size
            region = self._alloc(op, 8 + size)
            image = bytearray(8 + size)
            image[0:4] = int(NdisStatus.PENDING).to_bytes(4, "little")        # "not written yet"
            image[8:12] = size.to_bytes(4, "little")                           # header.Length
            self.memory.write(region.addr, bytes(image))
            item = _Item(b, obj, b.miniport_offload_context or 0, self._parent_index(b, obj, parents), region)
            if terminate and t == HeaderType.TCP:
                # request array sized from the shadow: every request the driver still tracks
                item.req_cap = min(len(obj.requests) if obj else 0, REQ_CAP_MAX)
                item.detached = bool(obj and obj.detached)
                item.req_region = self._alloc(op, REQ_HEADER_BYTES + REQ_RECORD_BYTES * max(item.req_cap, 1))
                self.memory.write(item.req_region.addr, bytes(item.req_region.size))
            items.append(item)
        if not items:
            self._complete_list_op(op)
            await self._pump()
            return
        chunks = [items[i:i + MAX_LIST_ENTRIES] for i in range(0, len(items), MAX_LIST_ENTRIES)]
        op.pending = len(chunks)
        for chunk in chunks:
            lst = self._alloc(op, LIST_ENTRY_BYTES * len(chunk))
            self.memory.write(lst.addr, b"".join(LIST_ENTRY.to_bytes(
                handle=i.handle, parent=i.parent & 0xFFFF, req_cap=i.req_cap, detached=int(i.detached),
                state_addr=i.state_addr,
                status_addr=i.status_addr, req_addr=i.req_region.addr if i.req_region else 0) for i in chunk))
            self._enqueue(dict(opcode=Opcode.TERMINATE if terminate else Opcode.QUERY, addr=lst.addr,
                               count=len(chunk), handle=0, obj_type=0, cookie=0),
                          lambda f, chunk=chunk: self._list_done(op, chunk, f))
        await self._pump()

    def _list_done(self, op, chunk, f):
        terminate = op.kind == "terminate"
        not_success = 0
        for k, item in enumerate(chunk):
            if f.get("halted"):
                # the engine stopped: nothing it wrote for this list can be trusted
                self._failed_by_halt(item, terminate)
                not_success += 1
                continue
            status = int.from_bytes(self.memory.read(item.status_addr, 4), "little")
            if status == NdisStatus.PENDING:
                if f["status"] == NdisStatus.DEVICE_DATA_ERROR and k >= f["err_index"]:
                    # DECISION: the engine could not read this entry; nothing was done to the
                    # object, which stays offloaded. The block gets DEVICE_DATA_ERROR.
                    item.block.status = NdisStatus.DEVICE_DATA_ERROR
                    continue
                self._report(f"{op.kind}: no Status written for {item.block!r}")
                status = NdisStatus.FAILURE
            if status != NdisStatus.SUCCESS:
                not_success += 1
            if status not in (NdisStatus.SUCCESS, NdisStatus.FAILURE) and item.obj is not None:
                # refused for an object the driver holds: the engine's view of it is broken
                # (it never refuses a correct request). Never pass that on: end it here.
                self._report(f"{op.kind}: {item.block!r} refused with status {status:#x} "
                             f"(detail {f['detail']}): ending it as a hardware failure")
                self._failed_by_halt(item, terminate)
                continue
            item.block.status = status
            if terminate:
                self._terminated(item, status)
            else:
                self._queried(item, status)
        if f.get("halted"):
            pass
        elif f["status"] != NdisStatus.DEVICE_DATA_ERROR and f["result"] != not_success:
            self._report(f"{op.kind} completion result {f['result']} but {not_success} Status words are not SUCCESS")
        op.pending -= 1
        if op.pending == 0:
            self._complete_list_op(op)

    def _complete_list_op(self, op):
        self._finish(op)
        for item in op.local:
            self._failed_by_halt(item, op.kind == "terminate")
        if op.kind == "terminate":
            self.host.terminate_offload_complete(op.tree)
        else:
            self.host.query_offload_complete(op.tree)
        self._flush_soft_events()           # Retrieve/Abort come after the completion

    def _failed_by_halt(self, item, terminate):
        """A block whose object the engine can no longer be trusted with: FAILURE. A TCP
        connection not yet told gets the failure sequence (events follow the completion)
        and keeps its requests; one already told (this is the host's retrieve) ends now,
        its requests REQUEST_ABORTED. A path or neighbor ends."""
        obj, b = item.obj, item.block
        b.status = NdisStatus.FAILURE
        b.net_buffer_list_chain = None
        if obj is None:
            return
        if obj.obj_type == ObjType.TCP and terminate and obj.indicated:
            self._end_locally(item, terminate)
            return
        self._lose(obj)
        if obj.obj_type != ObjType.TCP and terminate:
            self.objects.pop((obj.obj_type, obj.index), None)

    def _read_delegated(self, item):
        t = ObjType(item.block.header_type)
        wb = WRITE_BACK[t]
        raw = self.memory.read(item.state_addr, DELEGATED[t].size)
        if int.from_bytes(raw[0:4], "little") != DELEGATED[t].size or raw[4:8] != bytes(4):
            self._report(f"delegated header of {item.block!r} was overwritten")
        values = {name: int.from_bytes(raw[off:off + size], "little") for name, off, size in wb.fields}
        if item.block.delegated is not None:
            apply_delegated(item.block, values)
        return values

    def _queried(self, item, status):
        obj = item.obj
        if status == NdisStatus.SUCCESS:
            self._read_delegated(item)
        elif status == NdisStatus.FAILURE and obj is not None:
            obj.failed = True                       # events follow for a TCP connection

    def _read_requests(self, item):
        hdr = REQ_HEADER.from_bytes(self.memory.read(item.req_region.addr, REQ_HEADER_BYTES))
        n = hdr["count"]
        if n > item.req_cap:
            self._report(f"request header says {n} records, the array holds {item.req_cap}")
            n = item.req_cap
        base = item.req_region.addr + REQ_HEADER_BYTES
        recs = [REQ_RECORD.from_bytes(self.memory.read(base + REQ_RECORD_BYTES * i, REQ_RECORD_BYTES))
                for i in range(n)]
        return hdr, recs

    def _terminated(self, item, status):
        obj, b = item.obj, item.block
        t = HeaderType(b.header_type)
        if obj is None:
            if status in (NdisStatus.SUCCESS, NdisStatus.FAILURE):
                self._report(f"terminate of unknown object {b!r} returned {NdisStatus(status).name}")
            return
        if status not in (NdisStatus.SUCCESS, NdisStatus.FAILURE):
            # refused: the engine changed nothing; the object stays offloaded
            if t == HeaderType.TCP and status == NdisStatus.INVALID_PARAMETER and len(obj.requests) > item.req_cap:
                self._report(f"{b!r}: request array too small")
            return
        if t != HeaderType.TCP:
            if status == NdisStatus.SUCCESS:
                self._read_delegated(item)
            # SUCCESS or FAILURE: a path/neighbor ends here (freed or quarantined)
            del self.objects[(obj.obj_type, obj.index)]
            return
        hdr, recs = self._read_requests(item)
        if status == NdisStatus.SUCCESS:
            values = self._read_delegated(item)
            returned = self._settle_requests(obj, hdr, recs, failed=False)
            b.net_buffer_list_chain = chain_nbls(r.nbl for r in returned)
            if b.delegated is not None:
                b.delegated.SendDataHead = returned[0].nbl if returned else None
                b.delegated.SendDataTail = returned[-1].nbl if returned else None
                b.delegated.BufferedData = None
            del self.objects[(obj.obj_type, obj.index)]
        elif not obj.failed:
            # This terminate found the state lost: FAILURE now, Retrieve(HardwareFailure)
            # and Abort follow (by seq); the host terminates it again; requests stay.
            # The engine has taken the connection off its path (detached).
            obj.failed = obj.detached = True
            if hdr["count"] != 0:
                self._report(f"{b!r}: first failing terminate returned {hdr['count']} records")
            b.net_buffer_list_chain = None
        else:
            # The host's next terminate of a failed connection: every outstanding request
            # completes with REQUEST_ABORTED, then the terminate completes (FAILURE).
            self._settle_requests(obj, hdr, recs, failed=True)
            b.net_buffer_list_chain = None
            del self.objects[(obj.obj_type, obj.index)]
            # If this very terminate found the meta word lost, the engine kept the row
            # (poisoned) and Retrieve/Abort follow: `_on_event` brings the object back.
            self._ended[obj.index] = obj

    def _settle_requests(self, obj, hdr, recs, failed):
        """Match the engine's records against the shadow (cookie, kind, length, order).

        Every shadow request is completed exactly once: by its record's disposition, or
        (list_lost, or a record missing) with REQUEST_ABORTED. Records that match nothing
        are reported and ignored. Returns the RETURNED sends, in posted order."""
        shadow = list(obj.requests)
        obj.requests.clear()
        unmatched = {r.cookie: r for r in shadow}
        settled = []                           # (Request, Disposition) in record order
        for i, rec in enumerate(recs):
            want = shadow[i] if i < len(shadow) else None
            req = unmatched.get(rec["cookie"])
            if want is None or rec["cookie"] != want.cookie:
                self._report(f"conn {obj.index}: record {i} cookie {rec['cookie']} out of order "
                             f"(expected {want.cookie if want else None})")
            if req is None:
                self._report(f"conn {obj.index}: record {i} cookie {rec['cookie']} is not outstanding")
                continue
            if rec["kind"] != int(req.kind) or rec["length"] != req.length & 0xFFFF:
                self._report(f"conn {obj.index}: record {i} kind/length {rec['kind']}/{rec['length']} "
                             f"!= posted {int(req.kind)}/{req.length}")
            try:
                disp = Disposition(rec["disposition"])
            except ValueError:
                self._report(f"conn {obj.index}: record {i} has disposition {rec['disposition']}")
                disp = Disposition.ABORTED
            expected = record_disposition(req.kind, aborted=failed)
            if disp != expected:
                self._report(f"conn {obj.index}: record {i} disposition {disp.name}, expected {expected.name}")
                # DECISION: trust nothing odd: a send is handed back only when healthy
                disp = expected
            del unmatched[req.cookie]
            settled.append((req, disp))
        leftovers = [r for r in shadow if r.cookie in unmatched]
        if leftovers and not hdr["list_lost"]:
            self._report(f"conn {obj.index}: {len(leftovers)} outstanding requests missing from the records")
        if hdr["list_lost"] and not failed:
            self._report(f"conn {obj.index}: list_lost on a successful terminate")
        returned = []
        for req, disp in settled:
            if disp == Disposition.RETURNED:
                returned.append(req)
            else:
                self._complete_request(req, disp.ndis_status())
        for req in leftovers:
            if not failed and req.kind == ReqKind.SEND:
                # DECISION: a healthy connection's missing send is handed back, not dropped
                returned.append(req)
            elif not failed:
                self._complete_request(req, NdisStatus.UPLOAD_IN_PROGRESS)
            else:
                self._complete_request(req, NdisStatus.REQUEST_ABORTED)
        returned.sort(key=lambda r: shadow.index(r))
        return returned

    # ==================================================================
    # events
    # ==================================================================
    def _on_event(self, f):
        t, idx, gen, _ = split_handle(f["handle"])
        if t != ObjType.TCP:
            self._report(f"event {f} for a non-TCP object")
            return
        obj = self.objects.get((ObjType.TCP, idx))
        if obj is None and idx in self._ended and f["handle"] in (self._ended[idx].handle,
                                                                   f["handle"] & ~(0xFF << 16)):
            # A failed connection's final terminate found its meta word lost: the engine
            # kept the row and reports it again. It is offloaded (and failed) once more,
            # so the host hears Retrieve/Abort again and terminates it again.
            obj = self._ended.pop(idx)
            obj.failed = obj.detached = True         # that terminate completed with FAILURE
            self.objects[(ObjType.TCP, idx)] = obj
            self.warnings.append(f"TCP row {idx} failed again during its final terminate")
        if obj is None:
            # e.g. the scrubber poisoned a free row: nobody to tell
            self.warnings.append(f"event type {f['type']} for TCP row {idx} with no offloaded connection")
            log.warning(self.warnings[-1])
            return
        if gen not in (0, obj.gen):        # generation 0: a poisoned row (match by index)
            self._report(f"event for TCP row {idx} generation {gen}, offloaded generation {obj.gen}")
        if f["host_handle"] not in (0, obj.token):
            self._report(f"event host_handle {f['host_handle']:#x} != token {obj.token:#x} (row {idx})")
        try:
            ev = TcpEventType(f["type"])
        except ValueError:
            self._report(f"unknown event type {f['type']}")
            return
        if ev == TcpEventType.RETRIEVE:
            if f["info"] == TcpUploadReason.HARDWARE_FAILURE:
                obj.failed = True
            self.host.indicate_event(obj.block, ev, f["info"])
        else:
            obj.indicated = True
            self.host.indicate_event(obj.block, ev, f["info"])


def update_fields(b, offloaded: Optional[BlockList]):
    """The UPDATE load block: the offloaded row image with the block's cached fields
    (the engine takes only the cached fields; TCP cached state stays in the driver)."""
    t = ObjType(b.header_type)
    row = load_fields(offloaded) if offloaded is not None and t != ObjType.TCP else {}
    if t == ObjType.PATH:
        row["PathMtu"] = b.cached.PathMtu
    elif t == ObjType.NEIGHBOR:
        row["HostReachabilityDelta"] = b.cached.HostReachabilityDelta
        row["DlDestinationAddress"] = b.cached.DlDestinationAddress & ((1 << 48) - 1)
    return row


def walk_tree_from(b):
    """A block and everything below it."""
    yield b
    yield from walk_tree(b.dependent_block_list)
