"""The fault-campaign scenario: one injection into a small, realistic offload.

Two neighbors, three paths, six connections with posted sends and receives, a query,
a whole-tree terminate and the host stack's retrieve of any connection it was told
to retrieve. The same scenario runs fault-free on the reference model (the golden
run) and on the RTL with one fault injected at a random point (chimney.tb.faults.POINTS):
after the offload, after the query, or at a random cycle in the middle of the offload,
the posts, a patrol-scrub pass, the query or the terminate.
"""

import random

from chimney.contract import ObjType, data_words, memory_depth, meta_layout, pool_layout, MEMORIES
from chimney.contract.ecc import EccStatus
from chimney.tb.faults import Fault, make_fault, decode_stored, FAULT_CLASSES, META_CLASSES

MEM_PREFIX = {ObjType.NEIGHBOR: "neighbor", ObjType.PATH: "path", ObjType.TCP: "tcp"}

SHAPE = [[2, 1], [3]]


async def scenario(cs, rng, inject=None, *, scrub=False):
    """`inject(point, end=False)`: called at each injection point (a coroutine): a point
    `after_*` lands there; a point `during_*` is armed at the start of its phase
    (`end=False`) and told when the phase is over (`end=True`). `scrub`: run one
    patrol-scrub pass (SCRUB_CTRL.PASS) after the posts; only the `during_scrub` point
    asks for it, so every other injection runs the scenario of the first campaigns."""
    async def phase(point, run):
        if inject:
            await inject(point)
        await run()
        if inject:
            await inject(point, end=True)

    await phase("during_offload", lambda: cs.initiate("t", SHAPE, seed=rng.randrange(1 << 30)))

    async def posts():
        for conn in cs.tcp_names():
            if rng.random() < 0.8:
                await cs.send(conn, [rng.randrange(1, 9000) for _ in range(rng.randrange(1, 3))])
            if rng.random() < 0.6:
                await cs.receive(conn, [rng.randrange(1, 65536)])
    await phase("during_post", posts)
    if inject:
        await inject("after_offload")
    if scrub:
        await phase("during_scrub", cs.scrub_pass)
    names = sorted(rng.sample(cs.tcp_names(), 3))
    await phase("during_query", lambda: cs.query(names))
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


def in_use_pool(cs, params, peek):
    """Pool entries reachable from a live connection's request list, read through the
    back door: each offloaded TCP row's meta word (req_head, req_count), then each entry's
    `next`. `peek(mem, addr)` -> stored word. A walk stops at a word that does not decode
    or an entry that is not in use; it never takes more entries than the driver's shadow
    holds for that connection (so it cannot wander into free entries)."""
    tcp_lay, pool_lay = meta_layout(params, ObjType.TCP), pool_layout(params)
    entries = []
    for (t, index), obj in sorted(cs.rtl.driver.objects.items()):
        if ObjType(t) != ObjType.TCP or not obj.requests:
            continue
        status, word, _ = decode_stored(peek("tcp_meta", index), params, "tcp_meta")
        if status == EccStatus.UNCORRECTABLE:
            continue
        meta = tcp_lay.unpack(word, variant={"u": "live"})
        if not meta["valid"]:
            continue
        live = meta["u"][1]
        idx = live["req_head"]
        for _ in range(min(live["req_count"], len(obj.requests))):
            status, word, _ = decode_stored(peek("req_pool", idx), params, "req_pool")
            entry = pool_lay.unpack(word)
            if status == EccStatus.UNCORRECTABLE or not entry["used"] or idx in entries:
                break
            entries.append(idx)
            idx = entry["next"]
    return [("req_pool", i) for i in entries]


def meta_targets(cs, params, peek):
    """(memory, address) of the meta word of every offloaded row (neighbor, path, TCP)
    and of every in-use request-pool entry: the targets of the meta_multi/meta_word classes."""
    rows = [(f"{MEM_PREFIX[ObjType(t)]}_meta", index) for (t, index) in sorted(cs.rtl.driver.objects)]
    return rows + in_use_pool(cs, params, peek)


def choose_fault(rng, kind, params, names, live, meta_live=None):
    """Mostly words in use (a fault in an unused word can only be masked), some anywhere.
    The meta classes take only `meta_live` words (meta_targets), never an unused one."""
    if kind in META_CLASSES:
        if meta_live:
            mem, addr = rng.choice(meta_live)
            return make_fault(rng, kind, params, names, mem=mem, addr=addr)
        return make_fault(rng, kind, params, names)
    if kind == "fsm" or not live or rng.random() < 0.2:
        return make_fault(rng, kind, params, names)
    pool_words = [("req_pool", a) for a in range(min(params.n_req, 32))]
    mem, addr = rng.choice(live + pool_words)
    return make_fault(rng, kind, params, names, mem=mem, addr=addr)
