"""CTRL.RESET at any time (issue 17): in the middle of every command type, under random
DMA back-pressure, then a full offload/terminate on the restarted engine.

Runs on Amaranth-sim and cocotb: `reset_mid_command(rings, regs, mem, params, seed,
rounds)`, with `rings` a started tests.scenarios.raw.RawRings over a host memory with
random stalls and the backend's AXI protocol monitors watching the DMA port across
every reset (a VALID dropped before READY, a burst left short, a W beat changed while
waiting: each fails the run). Each round builds a small tree, rings one doorbell for a
batch of commands of one type, waits a random time with the interrupt masked, resets,
and then checks the restarted engine:

* STATUS: READY, not HALTED; ERR_STATUS without DMA_READ/DMA_WRITE (the drain never
  had to give up at dma_timeout);
* the rings start again at 0: the first completion after the restart has `seq` 0 and
  the tag of its own descriptor (none of the R beats owed to a fetch from before the
  reset is taken as its data);
* a neighbor, a path and two connections offload and terminate with the contract's
  results: SUCCESS, the delegated bytes each was offloaded with, no requests.

The seed picks the delays; every reset is recorded with whether the engine was BUSY
when it was written, and at least a third of them must have caught it busy, so the
scenario cannot silently drift to resetting an idle engine.
"""

import random

from chimney.contract import NO_INDEX, NdisStatus, ObjType, Opcode, WRITE_BACK
from chimney.sw.bus import wait_irq_within
from scenarios.engine import idx, offload_tree, tcp_fields

KINDS = ("offload", "query", "terminate", "post", "update", "nop")
BATCH = 3                      # commands behind the doorbell: the reset finds one running
#: the longest pause before the reset, per command type: about the batch's run time on
#: the simulators at 10 ns a cycle with back-pressure (longer pauses find it finished)
MAX_DELAY_NS = {"offload": 2500, "query": 2500, "terminate": 2500, "post": 1200, "update": 1500, "nop": 600}


def _tree_list(rings, nh, ph, tcps):
    """A list of the whole tree, dependents first, and its host buffers."""
    return rings.list_for([(h, idx(ph), ObjType.TCP) for h, _ in tcps]
                          + [(ph, idx(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)])


def _commands(kind, rings, rng, ph, nh, tcps):
    """BATCH (opcode, fields) of one command type against the live tree."""
    out = []
    for i in range(BATCH):
        if kind == "offload":
            out.append((Opcode.OFFLOAD, dict(obj_type=int(ObjType.TCP), handle=ph, cookie=0x900 + i,
                                             addr=rings.load_block(ObjType.TCP, tcp_fields(rng)).addr)))
        elif kind == "query":
            lst, _ = rings.list_for([(h, idx(ph), ObjType.TCP) for h, _ in tcps])
            out.append((Opcode.QUERY, dict(addr=lst.addr, count=len(tcps))))
        elif kind == "terminate":
            # the first terminates everything; the next ones find stale handles (still list walks)
            lst, _ = _tree_list(rings, nh, ph, tcps)
            out.append((Opcode.TERMINATE, dict(addr=lst.addr, count=len(tcps) + 2)))
        elif kind == "post":
            op = Opcode.POST_SEND if i % 2 == 0 else Opcode.POST_RECV
            out.append((op, dict(handle=tcps[i % len(tcps)][0], cookie=0xC00 + i, count=rng.randrange(1, 65536))))
        elif kind == "update":
            out.append((Opcode.UPDATE, dict(obj_type=int(ObjType.PATH), handle=ph,
                                            addr=rings.load_block(ObjType.PATH, {"PathMtu": 576 + i}).addr)))
        else:
            out.append((Opcode.NOP, {}))
    return out


async def _healthy_after_reset(rings, regs, rng, where):
    status = regs.decode("STATUS", await regs.read("STATUS"))
    assert status["READY"] and status["ENABLED"] and not status["HALTED"], f"{where}: {status}"
    # ERR_STATUS is register storage (kept across CTRL.RESET): a drain that had to give up
    # (dma_timeout) would have left DMA_READ or DMA_WRITE in it
    err = regs.decode("ERR_STATUS", await regs.read("ERR_STATUS"))
    assert not err["DMA_READ"] and not err["DMA_WRITE"], f"{where}: the drain reported a DMA error {err}"
    await regs.write("ERR_STATUS", 0xFFFFFFFF)
    tag = await rings.submit(Opcode.NOP)
    cpl = await rings.completion()
    assert (cpl["tag"], cpl["seq"], cpl["status"]) == (tag, 0, NdisStatus.SUCCESS), f"{where}: first NOP {cpl}"
    nh, ph, tcps = await offload_tree(rings, rng, n_tcp=2)
    lst, bufs = _tree_list(rings, nh, ph, tcps)
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=len(tcps) + 2)
    assert (cpl["status"], cpl["result"], cpl["err_index"]) == (NdisStatus.SUCCESS, 0, NO_INDEX), f"{where}: {cpl}"
    assert [rings.read_status(b) for b in bufs] == [NdisStatus.SUCCESS] * len(bufs), where
    for (_, fields), buf in zip(tcps, bufs):
        assert rings.read_delegated(buf) == WRITE_BACK[ObjType.TCP].image(fields), f"{where}: delegated bytes"
        hdr, _ = rings.read_requests(buf)
        assert (hdr["count"], hdr["list_lost"]) == (0, 0), f"{where}: {hdr}"


async def reset_mid_command(rings, regs, mem, params, seed, rounds=len(KINDS)):
    """`rounds` resets, the command types in turn; returns [(kind, delay_ns, busy)]."""
    rng = random.Random(seed)
    log = []
    for r in range(rounds):
        kind = KINDS[r % len(KINDS)]
        nh, ph, tcps = await offload_tree(rings, rng, n_tcp=3)
        cmds = _commands(kind, rings, rng, ph, nh, tcps)
        await regs.write_fields("IRQ_MASK", CPL=0, EVT=0, ERR=0)      # the pause below is time only
        await regs.write("ERR_STATUS", 0xFFFFFFFF)
        for opcode, fields in cmds:
            rings._put(opcode, fields)
        await regs.write_fields("CMDQ_PROD", INDEX=rings.cmd_prod)
        delay = rng.randrange(0, MAX_DELAY_NS[kind])
        if delay:
            await wait_irq_within(rings.dev, delay)
        busy = bool(await regs.read_field("STATUS.BUSY"))
        await regs.write_fields("CTRL", RESET=1)
        # not READY from the write on: the drain and the table walk come first
        assert not await regs.read_field("STATUS.READY"), f"round {r} ({kind}): READY right after CTRL.RESET"
        log.append((kind, delay, busy))
        await regs.write("IRQ_STATUS", regs.encode("IRQ_STATUS", CPL=1, EVT=1, ERR=1))
        await rings.restart()
        await _healthy_after_reset(rings, regs, rng,
                                   f"round {r}: reset {delay} ns into a {kind} batch (busy={busy}, seed {seed})")
    hit = sum(b for _, _, b in log)
    assert hit * 3 >= len(log), f"only {hit} of {len(log)} resets caught the engine busy: {log} (seed {seed})"
    return log
