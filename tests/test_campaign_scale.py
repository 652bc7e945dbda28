"""Issue 14: campaigns at scale. Shards and work units merge to exactly the unsharded
result, Dask runs the same units, failed units are run again, and the report's
statistics (bounds, coverage, JUnit) say what they claim.

The simulator tests run a 10-injection campaign on Verilator three ways (one unit;
four shards of 2-injection units, merged; a 2-worker Dask LocalCluster) and compare
the JSON lines byte for byte. About a minute.
"""

import json
import math
import os
import random
from xml.etree import ElementTree as ET

import pytest

from chimney.contract import MEMORIES
from chimney.tb import campaign
from chimney.tb.campaign_report import _log_binom_cdf, junit, summarise, upper_bound
from chimney.tb.executor import LocalExecutor, Unit, UnitFailed, units_of
from chimney.tb.faults import FAULT_CLASSES, MOMENTS, POINTS, coverage_bins

N, SEED = 10, 91331


@pytest.fixture(scope="module")
def verilator(request):
    if request.config.getoption("--sim") not in ("all", "verilator"):
        pytest.skip("needs Verilator (--sim all or verilator)")
    return "verilator"


@pytest.fixture(scope="module")
def one_unit(verilator, tmp_path_factory):
    """The reference: the whole campaign as one work unit in one simulator process."""
    out = tmp_path_factory.mktemp("one") / "all.jsonl"
    code = campaign.main(["--n", str(N), "--seed", str(SEED), "--unit", str(N), "--jobs", "1",
                          "--out", str(out), "--summary", str(out.with_name("campaign.json"))])
    assert code in (0, 2), "the campaign did not complete"
    return out


@pytest.mark.cocotb
def test_four_shards_merge_to_the_unsharded_run(one_unit, tmp_path, verilator):
    lines = one_unit.read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["i"] for r in records] == list(range(N))
    for r in records:                           # every line names its injection
        assert {"i", "class", "memory", "address", "bits", "moment", "outcome", "evidence"} <= set(r), r
        assert r["class"] == FAULT_CLASSES[r["i"] % len(FAULT_CLASSES)] and r["moment"] in MOMENTS
    assert len({r["point"] for r in records}) >= 3, "the draw should spread over the points"
    shards = []
    for k in range(4):
        out = tmp_path / f"s{k}.jsonl"
        code = campaign.main(["--n", str(N), "--seed", str(SEED), "--shard", f"{k}/4", "--unit", "2",
                              "--jobs", "2", "--out", str(out)])
        assert code in (0, 2)
        shards.append(str(out))
    merged = tmp_path / "merged.jsonl"
    summary = tmp_path / "campaign.json"
    assert campaign.merge_main([*shards[::-1], "--summary", str(summary), "--jsonl", str(merged)]) in (0, 2)
    assert merged.read_text().splitlines() == lines, "sharded run differs from the unsharded one"
    merged_report = json.loads(summary.read_text())
    direct = json.loads(one_unit.with_name("campaign.json").read_text())
    for key in ("outcomes", "by_class", "by_memory", "by_moment", "coverage", "bounds", "cases"):
        assert merged_report[key] == direct[key], key
    assert summary.with_suffix(".junit.xml").exists()          # (the chart needs matplotlib: make campaign)


@pytest.mark.cocotb
def test_dask_local_cluster_equals_the_local_run(one_unit, tmp_path, verilator):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.jsonl"
    code = campaign.main(["--n", str(N), "--seed", str(SEED), "--unit", "3", "--dask-local", "2",
                          "--out", str(out), "--summary", str(tmp_path / "campaign.json")])
    assert code in (0, 2)
    assert out.read_text().splitlines() == one_unit.read_text().splitlines()


# --- no simulator ------------------------------------------------------------------------------
def test_shards_and_units_cover_every_injection_once():
    rng = random.Random(7)
    for _ in range(300):
        n, count = rng.randrange(1, 5000), rng.randrange(1, 64)
        blocks = [campaign.shard_range(n, (k, count)) for k in range(count)]
        got = [i for lo, hi in blocks for i in range(lo, hi)]
        assert got == list(range(n)), (n, count)
        lo, hi = blocks[rng.randrange(count)]
        units = units_of((lo, hi), rng.randrange(1, 40), sim="verilator", seed=1, classes=(), points=())
        assert [i for u in units for i in u.indices] == list(range(lo, hi))
    with pytest.raises(Exception):
        campaign.parse_shard("4/4")


def _record(i, outcome="masked", seed=1, n=4, **kw):
    r = {"i": i, "seed": seed, "sim": "verilator", "n": n, "class": FAULT_CLASSES[i % 5],
         "memory": "tcp_meta", "address": i, "bits": [i], "moment": "idle", "point": "after_offload",
         "outcome": outcome, "evidence": "never read"}
    r.update(kw)
    return r


def _write(path, records):
    path.write_text("".join(campaign.line(r) + "\n" for r in records))
    return str(path)


def test_merge_refuses_what_is_not_one_campaign(tmp_path):
    a = _write(tmp_path / "a", [_record(0), _record(1)])
    b = _write(tmp_path / "b", [_record(2), _record(3)])
    records, seed, sim, n = campaign.merge_records([b, a])
    assert [r["i"] for r in records] == [0, 1, 2, 3] and (seed, sim, n) == (1, "verilator", 4)
    assert campaign.merge_records([a, b, a])[0] == records           # the same shard twice: identical lines
    with pytest.raises(campaign.MergeError, match="missing"):
        campaign.merge_records([a])
    with pytest.raises(campaign.MergeError, match="another campaign"):
        campaign.merge_records([a, _write(tmp_path / "c", [_record(2, seed=2), _record(3, seed=2)])])
    with pytest.raises(campaign.MergeError, match="differs"):
        campaign.merge_records([a, b, _write(tmp_path / "d", [_record(3, outcome="sdc")])])


def test_upper_bound_is_the_exact_clopper_pearson_limit():
    for n in (10, 1000, 10_000, 100_000):
        assert math.isclose(upper_bound(0, n), 1 - 0.05 ** (1 / n))
        if n >= 1000:
            assert 2.99 / n < upper_bound(0, n) < 3.0 / n            # the rule of three
    for k, n in ((1, 1000), (3, 500), (20, 100), (7, 10_000)):
        p = upper_bound(k, n)
        assert math.isclose(math.exp(_log_binom_cdf(k, n, p)), 0.05, rel_tol=1e-6), (k, n)
        assert upper_bound(k, n) < upper_bound(k + 1, n)
    assert upper_bound(5, 5) == 1.0


def test_summary_counts_bins_and_lists_the_unhit_ones():
    records = [_record(0, n=3), _record(1, n=3, outcome="sdc", moment="scrub", memory="req_pool"),
               _record(4, n=3, **{"class": "fsm", "memory": "engine.state", "address": None, "bits": None})]
    s = summarise(records, "verilator", 1, FAULT_CLASSES)
    bins = coverage_bins(FAULT_CLASSES, MEMORIES)
    assert s["coverage"]["bins"] == len(bins) == 4 * len(MEMORIES) * len(MOMENTS) + len(MOMENTS)
    assert s["coverage"]["hit"] == 3 and len(s["coverage"]["unhit"]) == len(bins) - 3
    assert ["single", "tcp_meta", "idle"] not in s["coverage"]["unhit"]
    assert ["double", "req_pool", "scrub"] not in s["coverage"]["unhit"]
    assert s["by_moment"]["scrub"]["outcomes"]["sdc"] == 1 and s["by_memory"]["engine.state"]["count"] == 1
    assert s["bounds"]["sdc_rate_upper"] == upper_bound(1, 3)
    assert [c["i"] for c in s["cases"]] == [1]


def test_junit_fails_exactly_the_classes_with_sdc_or_hang(tmp_path):
    records = [_record(i, n=10, outcome="hang" if i == 7 else "corrected") for i in range(10)]
    path = tmp_path / "c.junit.xml"
    junit(summarise(records, "verilator", 1, FAULT_CLASSES), path)
    suite = ET.parse(path).getroot()
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {FAULT_CLASSES[7 % 5]} and suite.get("failures") == "1"
    assert {c.get("name") for c in suite.iter("testcase")} == set(FAULT_CLASSES)


def test_local_executor_runs_a_failed_unit_again():
    units = units_of((0, 12), 3, sim="verilator", seed=1, classes=(), points=())
    tries = {}

    def flaky(unit):
        tries[unit] = tries.get(unit, 0) + 1
        if unit.start == 3 and tries[unit] == 1:
            raise RuntimeError("simulator crashed")
        return [{"i": i} for i in unit.indices]
    done = dict(LocalExecutor(2, retries=1).run(flaky, units))
    assert sorted(i["i"] for r in done.values() for i in r) == list(range(12)) and tries[units[1]] == 2

    def broken(unit):
        raise RuntimeError("always")
    with pytest.raises(UnitFailed, match="failed 2 times"):
        list(LocalExecutor(2, retries=1).run(broken, units))


def _die_once(unit):
    """Kills its worker process the first time it runs (a marker file remembers)."""
    marker = os.path.join(unit.classes[0], f"ran{unit.start}")
    if unit.start == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return [{"i": i} for i in unit.indices]


def test_dask_moves_the_unit_of_a_dead_worker(tmp_path):
    pytest.importorskip("distributed")
    from chimney.tb.executor import DaskExecutor
    units = units_of((0, 4), 2, sim="verilator", seed=1, classes=(str(tmp_path),), points=())
    ex = DaskExecutor(local_workers=2, retries=2)
    try:
        done = dict(ex.run(_die_once, units))
    finally:
        ex.close()
    assert sorted(i["i"] for r in done.values() for i in r) == [0, 1, 2, 3]
    assert (tmp_path / "ran0").exists()


def test_a_failed_offload_is_detected_only_without_events():
    from chimney.contract import NdisStatus, TcpEventType, TcpUploadReason
    from chimney.tb.classify import _is_failure_sequence
    ok, fail = int(NdisStatus.SUCCESS), int(NdisStatus.FAILURE)
    gold = [("status", "initiate_offload_complete", ok, {}), ("status", "terminate_offload_complete", ok, {"a": 1})]
    offload_failed = [("status", "initiate_offload_complete", fail, {}), ("status", "terminate_offload_complete", fail, {})]
    assert _is_failure_sequence(offload_failed, gold, is_tcp=True)
    events = [("event", int(TcpEventType.RETRIEVE), int(TcpUploadReason.HARDWARE_FAILURE)),
              ("event", int(TcpEventType.ABORT), 0)]
    assert not _is_failure_sequence(offload_failed + events, gold, is_tcp=True)   # nothing was offloaded
    lost_later = [gold[0], ("status", "terminate_offload_complete", fail, {})]
    assert not _is_failure_sequence(lost_later, gold, is_tcp=True)                 # offloaded: needs the events
    assert _is_failure_sequence(lost_later + events, gold, is_tcp=True)
    assert not _is_failure_sequence([("status", "initiate_offload_complete", fail, {}),
                                     ("status", "terminate_offload_complete", ok, {})], gold, is_tcp=True)
    refused = int(NdisStatus.INVALID_PARAMETER)                  # OFFLOAD refused: a lost parent row
    assert _is_failure_sequence([("status", "initiate_offload_complete", refused, {})] + offload_failed[1:],
                                gold, is_tcp=True)
    assert not _is_failure_sequence([gold[0], ("status", "terminate_offload_complete", refused, {})] + events,
                                    gold, is_tcp=True)           # a terminate's failure is FAILURE


def test_requests_of_a_connection_never_offloaded_are_refused_once():
    from chimney.contract import NdisStatus
    from chimney.tb.classify import classify
    ok, fail, bad = int(NdisStatus.SUCCESS), int(NdisStatus.FAILURE), int(NdisStatus.INVALID_PARAMETER)
    aborted = int(NdisStatus.REQUEST_ABORTED)

    def trace(offload, post):
        return [("initiate_offload_complete", [("t", offload, {}, [])]), ("send_complete", "t.s1", post)]
    gold = trace(ok, int(NdisStatus.UPLOAD_IN_PROGRESS))             # completed by the terminate
    same = dict(tcp_names={"t"}, nbl_owner={"t.s1": "t"}, noticed=True)
    assert classify(trace(bad, bad), gold, **same)[0] == "detected"
    assert classify(trace(fail, aborted), gold, **same)[0] == "detected"
    assert classify(trace(bad, ok), gold, **same)[0] == "sdc"          # a request that succeeded anyway
    assert classify(trace(ok, bad), gold, **same)[0] == "sdc"          # offloaded, then a refused send
    assert classify(trace(bad, aborted) + [("send_complete", "t.s1", bad)], gold, **same)[0] == "sdc"
