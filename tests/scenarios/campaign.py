"""The fault-campaign scenario: one injection into a small, realistic offload.

Two neighbors, three paths, six connections with posted sends and receives, a query,
a whole-tree terminate and the host stack's retrieve of any connection it was told
to retrieve. The same scenario runs fault-free on the reference model (the golden
run) and on the RTL with one fault injected at a random point: after the offload,
after the query, or in the middle of the terminate.
"""

import random

from chimney.contract import ObjType, data_words, memory_depth, MEMORIES
from chimney.tb.faults import Fault, make_fault, FAULT_CLASSES

SHAPE = [[2, 1], [3]]


async def scenario(cs, rng, inject=None, *, point=None):
    """`inject(point_name)`: called at each injection point (a coroutine)."""
    await cs.initiate("t", SHAPE, seed=rng.randrange(1 << 30))
    for conn in cs.tcp_names():
        if rng.random() < 0.8:
            await cs.send(conn, [rng.randrange(1, 9000) for _ in range(rng.randrange(1, 3))])
        if rng.random() < 0.6:
            await cs.receive(conn, [rng.randrange(1, 65536)])
    if inject:
        await inject("after_offload")
    await cs.query(sorted(rng.sample(cs.tcp_names(), 3)))
    if inject:
        await inject("after_query")
        await inject("during_terminate")          # arms a delayed injection
    await cs.terminate(key="t")
    await cs.retrieve_failed()


def live_words(cs, params):
    """(memory, address) of every word the RTL currently uses for offloaded state."""
    words = []
    drv = cs.rtl.driver
    for (t, index), obj in drv.objects.items():
        name = {ObjType.NEIGHBOR: "neighbor", ObjType.PATH: "path", ObjType.TCP: "tcp"}[ObjType(t)]
        words.append((f"{name}_meta", index))
        words.append((f"{name}_ident", index))
        n = data_words(t)
        words += [(f"{name}_data", index * n + w) for w in range(n)]
    return words


def choose_fault(rng, kind, params, names, live):
    """Mostly words in use (a fault in an unused word can only be masked), some anywhere."""
    if kind == "fsm" or not live or rng.random() < 0.2:
        return make_fault(rng, kind, params, names)
    pool_words = [("req_pool", a) for a in range(min(params.n_req, 32))]
    mem, addr = rng.choice(live + pool_words)
    return make_fault(rng, kind, params, names, mem=mem, addr=addr)
