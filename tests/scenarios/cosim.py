"""Co-simulation scenarios: the driver on the RTL against the driver on the reference model.

Each takes a started `chimney.tb.cosim.CoSim` and a fault injector for the RTL, and
leaves the comparison to CoSim's scoreboard (the caller asserts no mismatches).
"""

import random

from chimney.contract import NdisStatus, TcpEventType, ObjType, data_words
from chimney.tb.faults import Fault
from chimney.sw.ndis import HeaderType

SHAPES = {"a": [[3, 2], [4]], "b": [[2, 1]]}


async def realistic_trees(cs, faults, rng):
    await cs.initiate("a", SHAPES["a"], seed=rng.randrange(1 << 30))
    await cs.initiate("b", SHAPES["b"], seed=rng.randrange(1 << 30))
    tcps = cs.tcp_names()
    for conn in tcps:
        if rng.random() < 0.7:
            await cs.send(conn, [rng.randrange(1, 9000) for _ in range(rng.randrange(1, 4))])
        if rng.random() < 0.5:
            await cs.receive(conn, [rng.randrange(1, 65536) for _ in range(rng.randrange(1, 3))])
    await cs.query(rng.sample(tcps, 4) + ["n0p0"])
    partial = [t for t in tcps if t.startswith("n0p0")][:2] + [t for t in tcps if t.startswith("n1p0")][:1]
    await cs.terminate(partial)
    await cs.terminate(key="a")
    await cs.terminate(key="b")


async def failure_sequence(cs, faults, rng):
    """A double-bit error in one connection's data row: FAILURE; Retrieve; Abort; then
    REQUEST_ABORTED for every outstanding request on the host's next terminate."""
    await cs.initiate("a", SHAPES["a"], seed=rng.randrange(1 << 30))
    victim = "n0p1t0"
    await cs.send(victim, [100, 200])
    await cs.receive(victim, [300])
    await cs.send("n0p0t1", [50])
    row = cs.rtl.driver.lookup(cs.rtl.blocks[victim]).index
    addr = row * data_words(ObjType.TCP) + rng.randrange(data_words(ObjType.TCP))
    cs.inject(faults, Fault("double", "tcp_data", addr, mask=(1 << 5) | (1 << 40)))
    calls = await cs.terminate(key="a")
    names = [(c.name, getattr(c.obj, "name", None), c.a) for c in calls]
    term = [c for c in calls if c.name == "terminate_offload_complete"][0]
    statuses = {b.name: b.status for b in _walk(term.obj)}
    assert statuses[victim] == NdisStatus.FAILURE, statuses
    assert all(s == NdisStatus.SUCCESS for n, s in statuses.items() if n != victim), statuses
    i = names.index(("terminate_offload_complete", term.obj.name, None))
    assert names[i + 1:i + 3] == [("indicate_event", victim, TcpEventType.RETRIEVE),
                                  ("indicate_event", victim, TcpEventType.ABORT)], names
    calls = await cs.retrieve_failed()
    last = cs.rtl.host.log[-4:]
    assert [c.name for c in last] == ["send_complete", "send_complete", "receive_complete",
                                      "terminate_offload_complete"], last
    assert all(c.a == NdisStatus.REQUEST_ABORTED for c in last[:3])


def _walk(tree):
    from chimney.sw.ndis import walk_tree
    return walk_tree(tree)


ALL = {"realistic_trees": realistic_trees, "failure_sequence": failure_sequence}
