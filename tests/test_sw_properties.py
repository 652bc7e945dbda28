"""Property-based tests: random sequences of offload/post/query/terminate/fault operations
through the driver over the reference model, checking NDIS-edge invariants.

Invariants (checked after every operation and at the end):
  * every terminate/query completes exactly once and gives every block a final Status;
  * SUCCESS implies the delegated state equals what was offloaded (the engine held it);
  * a connection without an injected uncorrectable fault always gets SUCCESS, its sends
    come back in posted order and its receives complete with UPLOAD_IN_PROGRESS;
  * no request is lost or completed twice (completed exactly once, or handed back once);
  * the failure sequence: FAILURE, then Retrieve(HardwareFailure) immediately followed by
    Abort; then, at the host's next terminate, every outstanding request completes with
    REQUEST_ABORTED before that terminate completes;
  * the final whole-tree terminate (every live connection, then every path and neighbor,
    in one request) ends every path and neighbor: a connection found lost in it gives
    back its path reference at once (meta `detached`), so only a path whose own row was
    lost gets FAILURE, and never INVALID_PARAMETER (ORDER);
  * the driver reports no consistency error (all injected faults are detectable).

Runs are derandomized (fixed seed per example database-free run) and bounded.
"""

import random

from hypothesis import given, settings, strategies as st, HealthCheck, Phase, event

from chimney.contract import EngineParams, NdisStatus, ObjType, TcpEventType, TcpUploadReason
from chimney.sw.harness import DriverBench
from chimney.sw.ndis import (HeaderType, NetBufferList, build_tree, walk_tree, sub_tree, iter_chain,
                             delegated_values, walk_dependents_first)

PARAMS = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=64)
FAULTS = ("single", "data2", "ident2", "meta2", "data3", "pool2", "path2")

op = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 15), st.lists(st.integers(1, 3000), min_size=1, max_size=3)),
    st.tuples(st.just("recv"), st.integers(0, 15), st.lists(st.integers(1, 3000), min_size=1, max_size=2)),
    st.tuples(st.just("query"), st.integers(1, (1 << 16) - 1)),
    st.tuples(st.just("terminate"), st.integers(1, (1 << 16) - 1)),
    st.tuples(st.just("fault"), st.integers(0, 15), st.sampled_from(FAULTS), st.integers(0, 1 << 20)),
    st.tuples(st.just("scrub")),
)


class World:
    def __init__(self, seed, shape):
        self.rng = random.Random(seed)
        self.b = DriverBench(PARAMS, ring_log2=2)
        self.tree = build_tree(self.rng, shape)
        self.snap = {id(x): delegated_values(x) for x in walk_tree(self.tree)}
        self.b.initiate(self.tree)
        assert all(x.status == 0 for x in walk_tree(self.tree))
        self.conns = [x for x in walk_tree(self.tree) if x.header_type == HeaderType.TCP]
        self.live = list(self.conns)          # from the host's view: not yet terminated
        self.faulted = set()                  # conn names with an uncorrectable fault injected
        self.faulted_paths = set()            # path names with an uncorrectable fault injected
        self.touched = set()                  # (mem, addr) already flipped
        self.outstanding = {c.name: [] for c in self.conns}   # NBLs posted, not completed/returned
        self.kinds = {}                       # id(nbl) -> "send"/"recv"
        self.done = {}                        # id(nbl) -> how it ended ("status" or "returned")
        self.retrieved = set()                # conns the host was told failed (Retrieve seen)
        self.log_pos = 0

    # --- helpers ---------------------------------------------------------------------
    def new_calls(self):
        calls = self.b.host.log[self.log_pos:]
        self.log_pos = len(self.b.host.log)
        return calls

    def check_calls(self, calls):
        """Per-call invariants: each NBL ends once; Retrieve is followed by Abort."""
        for i, c in enumerate(calls):
            if c.name in ("send_complete", "receive_complete"):
                assert id(c.obj) not in self.done, f"{c.obj} completed twice"
                self.done[id(c.obj)] = c.a
                for lst in self.outstanding.values():
                    if c.obj in lst:
                        lst.remove(c.obj)
            if c.name == "indicate_event" and c.a == TcpEventType.RETRIEVE:
                assert c.b == TcpUploadReason.HARDWARE_FAILURE
                nxt = calls[i + 1]
                assert nxt.name == "indicate_event" and nxt.a == TcpEventType.ABORT and nxt.obj is c.obj
                self.retrieved.add(c.obj.name)
                assert c.obj.name in self.faulted, f"{c.obj} failed without a fault"

    def conn_words(self, conn, kind):
        t, i = self.b.row(conn)
        eng = self.b.engine
        if kind == "meta":
            return [eng.word_addr(t, "meta", i)]
        if kind == "ident":
            return [eng.word_addr(t, "ident", i)]
        return [eng.word_addr(t, "data", i, w) for w in range(10)]

    # --- operations ----------------------------------------------------------------------
    def post(self, idx, lengths, kind):
        if not self.live:
            return
        conn = self.live[idx % len(self.live)]
        nbls = [NetBufferList(n, name=f"{conn.name}{kind[0]}{len(self.kinds) + i}") for i, n in enumerate(lengths)]
        for n in nbls:
            self.kinds[id(n)] = kind
        self.outstanding[conn.name].extend(nbls)
        (self.b.send if kind == "send" else self.b.receive)(conn, nbls)
        calls = self.new_calls()
        self.check_calls(calls)
        for c in calls:
            if c.name in ("send_complete", "receive_complete"):
                # only a lost connection refuses a post
                assert c.a == NdisStatus.REQUEST_ABORTED and conn.name in self.faulted

    def pick(self, mask):
        return [c for i, c in enumerate(self.live) if mask >> i & 1]

    def query(self, mask):
        chosen = self.pick(mask)
        if not chosen:
            return
        q = sub_tree(chosen)
        self.b.query(q)
        calls = self.new_calls()
        assert [c.name for c in calls].count("query_offload_complete") == 1
        self.check_calls(calls)
        for blk in q.siblings():
            assert blk.status in (NdisStatus.SUCCESS, NdisStatus.FAILURE)
            if blk.status == NdisStatus.SUCCESS:
                assert delegated_values(blk) == self.snap[id(blk.origin)]
            else:
                assert blk.origin.name in self.faulted
            if blk.origin.name not in self.faulted:
                assert blk.status == NdisStatus.SUCCESS

    def terminate(self, mask):
        chosen = self.pick(mask)
        if not chosen:
            return
        self._terminate(chosen)

    def _terminate(self, chosen, rest=()):
        """Terminate the connections `chosen` and then the blocks `rest` (paths and
        neighbors, dependents first) in one request; returns the copies of `rest`."""
        before = set(self.retrieved)
        outstanding = {c.name: list(self.outstanding[c.name]) for c in chosen}
        q = sub_tree(list(chosen) + list(rest))
        self.b.terminate(q)
        calls = self.new_calls()
        names = [c.name for c in calls]
        assert names.count("terminate_offload_complete") == 1
        at = names.index("terminate_offload_complete")
        self.check_calls(calls)
        others = []
        for blk in q.siblings():
            conn = blk.origin
            assert blk.status in (NdisStatus.SUCCESS, NdisStatus.FAILURE), blk.status
            if conn.header_type != HeaderType.TCP:
                others.append(blk)
                continue
            mine = [c for c in calls if c.name in ("send_complete", "receive_complete")
                    and c.obj in outstanding[conn.name]]
            if blk.status == NdisStatus.SUCCESS:
                assert delegated_values(blk) == self.snap[id(conn)]
                sends = [n for n in outstanding[conn.name] if self.kinds[id(n)] == "send"]
                recvs = [n for n in outstanding[conn.name] if self.kinds[id(n)] == "recv"]
                assert list(iter_chain(blk.net_buffer_list_chain)) == sends
                for n in sends:
                    assert id(n) not in self.done
                    self.done[id(n)] = "returned"
                    self.outstanding[conn.name].remove(n)
                assert [c.obj for c in mine] == recvs
                assert all(c.a == NdisStatus.UPLOAD_IN_PROGRESS for c in mine)
                event("successful terminate with requests" if outstanding[conn.name] else "successful terminate")
                self.live.remove(conn)
                continue
            assert conn.name in self.faulted
            later_retrieve = [c for c in calls[at:] if c.name == "indicate_event" and c.obj is conn
                              and c.a == TcpEventType.RETRIEVE]
            if conn.name in before:
                # the host's next terminate: all outstanding requests REQUEST_ABORTED first
                assert sorted(map(id, (c.obj for c in mine))) == sorted(map(id, outstanding[conn.name]))
                assert all(c.a == NdisStatus.REQUEST_ABORTED for c in mine)
                assert all(calls.index(c) < at for c in mine)
                assert self.outstanding[conn.name] == []
                if not later_retrieve:
                    event("final terminate of a failed connection")
                    self.live.remove(conn)
                else:
                    event("failed again during its final terminate")
                    self.retrieved.add(conn.name)     # failed again (meta lost at the final terminate)
            else:
                # first finding: FAILURE, then Retrieve + Abort after the completion; requests stay
                assert later_retrieve, f"{conn} FAILURE without Retrieve"
                event("first failing terminate")
                assert mine == []
        return others

    def fault(self, idx, kind, r):
        if kind == "path2":
            paths = [p for nb in self.tree.siblings() for p in nb.dependents()]
            p = paths[idx % len(paths)]
            w = self.b.engine.word_addr(ObjType.PATH, "data", self.b.row(p)[1])
            if w not in self.touched:
                self.touched.add(w)
                self.b.engine.flip(*w, 0b11 << (r % 60))
                self.faulted_paths.add(p.name)
            return
        if not self.live:
            return
        conn = self.live[idx % len(self.live)]
        eng = self.b.engine
        if kind == "pool2":
            indexes = eng.request_indexes(self.b.row(conn)[1])
            if not indexes:
                return
            w = ("req_pool", indexes[r % len(indexes)])
        else:
            part = {"single": ("data", "meta", "ident")[r % 3], "data2": "data", "data3": "data",
                    "ident2": "ident", "meta2": "meta"}[kind]
            words = self.conn_words(conn, part)
            w = words[r % len(words)]
        if w in self.touched:
            return
        self.touched.add(w)
        bit = r % 62
        mask = {"single": 1 << (r % 72), "data3": 0b10101 << bit}.get(kind, 0b11 << bit)
        eng.flip(*w, mask)
        if kind != "single":
            self.faulted.add(conn.name)

    def scrub(self):
        self.b.engine.scrub_pass()
        self.b.run(self._noop())
        calls = self.new_calls()
        self.check_calls(calls)

    async def _noop(self):
        pass

    def apply(self, o):
        {"send": lambda: self.post(o[1], o[2], "send"), "recv": lambda: self.post(o[1], o[2], "recv"),
         "query": lambda: self.query(o[1]), "terminate": lambda: self.terminate(o[1]),
         "fault": lambda: self.fault(*o[1:]), "scrub": self.scrub}[o[0]]()
        assert self.b.driver.errors == [], self.b.driver.errors

    def finish(self):
        """One whole-tree terminate (dependents first), then the failed connections'
        next terminates."""
        rest = [x for x in walk_dependents_first(self.tree) if x.header_type != HeaderType.TCP]
        ended = self._terminate(list(self.live), rest)
        for blk in ended:
            assert blk.status in (NdisStatus.SUCCESS, NdisStatus.FAILURE), (blk, blk.status)
            if blk.status == NdisStatus.SUCCESS:
                assert delegated_values(blk) == self.snap[id(blk.origin)]
            else:
                assert blk.origin.name in self.faulted_paths, blk
        for _ in range(4):
            if not self.live:
                break
            self.terminate((1 << len(self.live)) - 1)
        assert self.live == [], self.live
        # nothing lost, nothing twice
        assert all(v == [] for v in self.outstanding.values())
        assert set(self.done) == set(self.kinds)
        for t in ObjType:
            assert self.b.engine.live_rows(t) == [] or all(
                self.b.engine.meta(t, r).poisoned for r in self.b.engine.live_rows(t))
        assert self.b.driver.errors == []
        assert self.b.driver.objects == {}
        if not self.faulted:
            eng = self.b.engine        # every request entry was given back
            assert all(eng.tables.decode_entry(eng._decode_quiet("req_pool", i)).free for i in range(PARAMS.n_req))


def _at_least_one(shape):
    if not sum(map(sum, shape)):
        shape[0][0] = 1
    return shape


shapes = st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=2), min_size=1, max_size=2).map(_at_least_one)


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow], phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 1 << 16), shape=shapes, ops=st.lists(op, max_size=25))
def test_random_operations_keep_ndis_invariants(seed, shape, ops):
    w = World(seed, shape)
    for o in ops:
        w.apply(o)
    w.finish()


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow], phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 1 << 16), ops=st.lists(
    st.one_of(st.tuples(st.just("fault"), st.integers(0, 15), st.sampled_from(("meta2", "data2", "pool2")),
                        st.integers(0, 1 << 20)),
              st.tuples(st.just("send"), st.integers(0, 15), st.lists(st.integers(1, 100), min_size=1, max_size=3)),
              st.tuples(st.just("terminate"), st.integers(1, 255))), min_size=5, max_size=30))
def test_fault_heavy_sequences(seed, ops):
    w = World(seed, [[3, 2], [3]])
    for o in ops:
        w.apply(o)
    w.finish()
