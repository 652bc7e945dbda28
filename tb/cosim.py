"""Co-simulation: the real driver on the RTL and on the reference model, in lockstep.

Two copies of everything NDIS sees: the same state trees, the same requests, the same
host-stack operations. One `ChimneyDriver` runs over the RTL (cocotb register window
and host memory), one over `RefEngine`. After every operation both host-stack logs are
normalised (block names, statuses, delegated variables, NBL chains and completions;
never handles or addresses, which are the miniport's own business) and compared:
every difference is a scoreboard mismatch.

Faults can be injected into both sides (the model's memories and the RTL's arrays,
same memory and word) to check that the RTL handles them exactly as the contract
says, or into the RTL only, with the model as the fault-free reference (campaigns).
"""

import random

from chimney.contract import EngineParams, NdisStatus, TcpEventType
from chimney.sw.bus import DeviceTimeout, wait_irq_within
from chimney.sw.driver import ChimneyDriver
from chimney.sw.harness import run_sync
from chimney.sw.hoststack import RecordingHostStack
from chimney.sw.model import RefEngine, SimpleHostMemory
from chimney.sw.ndis import (HeaderType, NetBufferList, build_tree, walk_tree, sub_tree, iter_chain,
                             delegated_values)


def pruned_tree(root, exclude):
    """A copy of a tree without the blocks named in `exclude` (fresh delegated structures,
    same offload contexts): what is left to terminate after part of it was."""
    from chimney.sw.ndis import BlockList, link_siblings, fresh_delegated

    def copy_list(first):
        out = []
        for b in (first.siblings() if first else ()):
            if b.name in exclude:
                continue
            c = BlockList(b.header_type, b.const, b.cached, fresh_delegated(b.header_type),
                          miniport_offload_context=b.miniport_offload_context,
                          ndis_offload_handle=b.ndis_offload_handle, name=b.name)
            c.origin = b
            c.dependent_block_list = copy_list(b.dependent_block_list)
            out.append(c)
        return link_siblings(out)
    return copy_list(root)


def describe_status(value):
    try:
        return NdisStatus(value).name
    except (ValueError, TypeError):
        return f"{value:#x}" if isinstance(value, int) else str(value)


def snapshot(tree):
    """What the host stack reads from a completed tree: per block its Status, its
    delegated variables when SUCCESS, and the names of the sends handed back."""
    out = []
    for b in walk_tree(tree):
        out.append((b.name, b.status, delegated_values(b) if b.status == NdisStatus.SUCCESS else None,
                    [n.name for n in iter_chain(b.net_buffer_list_chain)]))
    return tuple(out)


def normalise(call):
    if call.name.endswith("_offload_complete"):
        return (call.name, snapshot(call.obj))
    if call.name == "indicate_event":
        return (call.name, call.obj.name, int(call.a), int(call.b))
    return (call.name, call.obj.name, int(call.a))


def readable(call):
    if call.name.endswith("_offload_complete"):
        blocks = ", ".join(f"{name}={describe_status(st)}" + (f" chain[{','.join(ch)}]" if ch else "")
                           for name, st, _, ch in snapshot(call.obj))
        return f"{call.name}: {blocks}"
    if call.name == "indicate_event":
        ev = TcpEventType(call.a).name
        info = " (HardwareFailure)" if call.a == TcpEventType.RETRIEVE and call.b == 11 else ""
        return f"indicate_event {call.obj.name}: {ev}{info}"
    return f"{call.name} {call.obj.name}: {describe_status(call.a)}"


class Side:
    """One driver with its host stack, memory and trees."""

    def __init__(self, name, device, memory, params, ring_log2, irq_timeout_ns):
        self.name = name
        self.device = device
        self.memory = memory
        self.host = RecordingHostStack()
        self.driver = ChimneyDriver(device, memory, self.host, params, ring_log2=ring_log2,
                                    irq_timeout_ns=irq_timeout_ns)
        self.trees = {}
        self.blocks = {}              # name -> BlockList of the offloaded trees
        self.seen = 0                 # host log entries already compared

    def new_calls(self):
        calls = self.host.log[self.seen:]
        self.seen = len(self.host.log)
        return calls


class CoSim:
    def __init__(self, rtl_device, rtl_memory, params: EngineParams, *, ring_log2=5,
                 timeout_ns=20_000_000, irq_timeout_ns=200_000, model=True):
        self.params = params
        self.timeout_ns = timeout_ns
        self.rtl = Side("rtl", rtl_device, rtl_memory, params, ring_log2, irq_timeout_ns)
        self.ref = None
        if model:
            mem = SimpleHostMemory(1 << 24)
            self.model = RefEngine(params, mem)
            self.ref = Side("ref", self.model, mem, params, ring_log2, irq_timeout_ns)
        self.mismatches = []          # (operation, rtl calls, ref calls)
        self.trace = []               # normalised host-stack calls of the RTL side, in order
        self.to_retrieve = set()      # connections aborted and not terminated since
        self.log = []                 # readable: what the host stack saw on the RTL side
        self.ops = 0
        self._nbl = 0
        self.posted = {}              # NBL name -> connection name
        self.offloaded = {}           # block name -> delegated variables as offloaded

    @property
    def sides(self):
        return [s for s in (self.rtl, self.ref) if s is not None]

    async def start(self):
        await self.rtl.driver.start()
        if self.ref:
            run_sync(self.ref.driver.start())

    # --- running an operation on both sides ------------------------------------------------
    async def _run(self, what, make):
        self.ops += 1
        await make(self.rtl)
        await self.rtl.driver.run_until_idle(self.timeout_ns)
        rtl_calls = self.rtl.new_calls()
        self.trace += [normalise(c) for c in rtl_calls]      # as the host stack saw it then
        for c in rtl_calls:                                  # who the host stack must retrieve
            if c.name == "indicate_event" and c.a == TcpEventType.ABORT:
                self.to_retrieve.add(c.obj.name)
            elif c.name == "terminate_offload_complete":
                self.to_retrieve -= {b.name for b in walk_tree(c.obj)}
        self.log.append(f"[{self.ops}] {what}")
        self.log += ["    " + readable(c) for c in rtl_calls]
        if self.ref:
            run_sync(make(self.ref))
            run_sync(self.ref.driver.run_until_idle())
            ref_calls = self.ref.new_calls()
            a = [normalise(c) for c in rtl_calls]
            b = [normalise(c) for c in ref_calls]
            if a != b:
                self.mismatches.append((what, [readable(c) for c in rtl_calls],
                                        [readable(c) for c in ref_calls]))
        return rtl_calls

    # --- host-stack operations -------------------------------------------------------------
    async def initiate(self, key, shape, seed):
        for side in self.sides:
            tree = build_tree(random.Random(seed), shape)
            side.trees[key] = tree
            side.blocks.update({b.name: b for b in walk_tree(tree)})
        # what the engine is given, to check every SUCCESS write-back against
        self.offloaded.update({b.name: delegated_values(b) for b in walk_tree(self.rtl.trees[key])})

        async def make(side):
            await side.driver.initiate_offload(side.trees[key])
        return await self._run(f"initiate {key} {shape}", make)

    def _selection(self, side, names):
        return sub_tree([side.blocks[n] for n in names])

    async def terminate(self, names=None, key=None, exclude=()):
        """Terminate a whole tree (`key`, less the blocks in `exclude`, as the host stack
        builds the tree of what is still offloaded) or a flat selection of blocks."""
        async def make(side):
            if key is not None:
                tree = pruned_tree(side.trees[key], set(exclude)) if exclude else side.trees[key]
            else:
                tree = self._selection(side, names)
            await side.driver.terminate_offload(tree)
        what = f"terminate {key}" + (f" without {sorted(exclude)}" if exclude else "") if key else f"terminate {names}"
        return await self._run(what, make)

    async def query(self, names):
        async def make(side):
            await side.driver.query_offload(self._selection(side, names))
        return await self._run(f"query {names}", make)

    def _nbls(self, conn, lengths, kind):
        names = []
        for n in lengths:
            self._nbl += 1
            names.append((f"{conn}.{kind}{self._nbl}", n))
            self.posted[names[-1][0]] = conn
        return names

    async def send(self, conn, lengths):
        return await self._post("send", conn, lengths)

    async def receive(self, conn, lengths):
        return await self._post("receive", conn, lengths)

    async def _post(self, op, conn, lengths):
        """Post sends or receives (one NBL per length) on both sides, with the same names."""
        names = self._nbls(conn, lengths, op[0])

        async def make(side):
            post = getattr(side.driver, f"tcp_offload_{op}")
            await post(side.blocks[conn], [NetBufferList(n, name=nm) for nm, n in names])
        return await self._run(f"{op} {conn} {list(lengths)}", make)

    async def scrub_pass(self, poll_ns=2_000, timeout_ns=5_000_000):
        """One whole patrol-scrub pass between commands (SCRUB_CTRL.PASS), then the host
        stack is told what it found (Retrieve/Abort of a lost TCP row). SCRUB_PASSES is
        polled every `poll_ns` (a pass over the default tables takes about 38,000
        cycles), events are serviced as they come; a halted engine ends the wait (the
        driver's service then ends everything outstanding); no end after `timeout_ns`
        of waiting is a DeviceTimeout."""
        async def make(side):
            rings = side.driver.rings
            before = await rings.regs.read("SCRUB_PASSES")
            await rings.regs.write_fields("SCRUB_CTRL", PASS=1)
            waited = 0
            while await rings.regs.read("SCRUB_PASSES") == before and not await rings.halted():
                if waited >= timeout_ns:
                    raise DeviceTimeout(f"{side.name}: scrub pass not finished after {timeout_ns} ns")
                if await wait_irq_within(side.device, poll_ns):
                    await side.driver.service()    # an event: take it now (the ring is small)
                else:
                    waited += poll_ns
            await side.driver.service()        # the events the pass posted, or the halt
        return await self._run("scrub pass", make)

    async def retrieve_failed(self):
        """What the host stack does after Retrieve/Abort: terminate each such connection
        that no terminate has covered since its Abort."""
        todo = sorted(self.to_retrieve)
        for name in todo:
            await self.terminate([name])
        return todo

    # --- faults --------------------------------------------------------------------------------
    def inject(self, faults_rtl, fault, *, model=True):
        """Apply `fault` (chimney.tb.faults.Fault) to the RTL and, unless model=False, the model."""
        faults_rtl.apply(fault)
        if model and self.ref and fault.kind != "fsm":
            if fault.value is not None:
                self.model.corrupt(fault.target, fault.addr, fault.value)
            else:
                self.model.flip(fault.target, fault.addr, fault.mask)

    # --- results -----------------------------------------------------------------------------
    def names(self, kind=None):
        blocks = self.rtl.blocks.values()
        return [b.name for b in blocks if kind is None or b.header_type == kind]

    def tcp_names(self):
        return self.names(HeaderType.TCP)

    def delegated_mismatches(self):
        """SUCCESS write-backs (terminate or query) whose variables differ from what was
        offloaded: the engine has no TCP datapath, so they must be equal."""
        bad = []
        for call in self.rtl.host.log:
            if call.name in ("terminate_offload_complete", "query_offload_complete"):
                for b in walk_tree(call.obj):
                    if b.status == NdisStatus.SUCCESS and delegated_values(b) != self.offloaded.get(b.name):
                        bad.append(b.name)
        return bad

    def summary(self):
        return {"operations": self.ops, "mismatches": len(self.mismatches),
                "driver_errors": [str(e) for e in self.rtl.driver.errors]}


def failure_sequence_ok(cs, victim, retrieved):
    """What the host stack saw for `victim` (a connection whose hardware state was lost
    before the terminate): that terminate completes it with FAILURE, then
    Retrieve(HardwareFailure) and Abort are indicated, every request it had outstanding
    completes with REQUEST_ABORTED, and the host stack's next terminate (its retrieve)
    completes it: the NDIS order (docs/interface.md, "Hardware failure")."""
    log = cs.rtl.host.log
    names = [(c.name, getattr(c.obj, "name", None), c.a) for c in log]
    term = [i for i, c in enumerate(log) if c.name == "terminate_offload_complete"
            and any(b.name == victim for b in walk_tree(c.obj))]
    if len(term) != 2:
        return False
    first, second = term
    failed = {b.name: b.status for b in walk_tree(log[first].obj)}.get(victim) == NdisStatus.FAILURE
    events = names[first + 1:first + 3] == [("indicate_event", victim, TcpEventType.RETRIEVE),
                                            ("indicate_event", victim, TcpEventType.ABORT)]
    aborted = [c for c in log[first + 3:second] if c.name in ("send_complete", "receive_complete")]
    outstanding = [n for n, conn in cs.posted.items() if conn == victim]
    aborts_ok = (sorted(c.obj.name for c in aborted) == sorted(outstanding)
                 and all(c.a == NdisStatus.REQUEST_ABORTED for c in aborted))
    return bool(failed and events and aborts_ok and retrieved == [victim])

