"""Classify one fault injection by what the host stack saw, against a fault-free run.

Outcomes (docs/verification.md):
  corrected  the host stack saw exactly the fault-free outcome, and the fault was
             noticed (a corrected word, an uncorrectable word that did not matter,
             or a driver consistency report that the shadow repaired)
  masked     the host stack saw exactly the fault-free outcome and nothing noticed
             the fault (it was never read, or was overwritten first)
  detected   some objects ended differently, each exactly by the failure sequence:
             a TCP connection with Status FAILURE, Retrieve(HardwareFailure), Abort,
             and every outstanding request completed once with REQUEST_ABORTED; a
             path or neighbor with Status FAILURE; everything else as fault-free
  sdc        any other difference: silent data corruption at the NDIS edge
  hang       the run did not finish (driver or simulator timeout)
"""

from collections import defaultdict

from chimney.contract import NdisStatus, TcpEventType, TcpUploadReason
from chimney.sw.ndis import walk_tree, iter_chain, delegated_values

OUTCOMES = ("corrected", "detected", "masked", "sdc", "hang")


def outcome_of(log):
    """Per block and per NBL, everything the host stack was told, in order."""
    blocks = defaultdict(list)        # name -> [("status", op, status, values) | ("event", type, info)]
    nbls = defaultdict(list)          # name -> [("complete", status) | ("chained", block)]
    for call in log:
        if call.name.endswith("_offload_complete"):
            for b in walk_tree(call.obj):
                values = delegated_values(b) if b.status == NdisStatus.SUCCESS else None
                blocks[b.name].append(("status", call.name, b.status, values))
                for nbl in iter_chain(b.net_buffer_list_chain):
                    nbls[nbl.name].append(("chained", b.name))
        elif call.name == "indicate_event":
            blocks[call.obj.name].append(("event", int(call.a), int(call.b)))
        else:
            nbls[call.obj.name].append(("complete", int(call.a)))
    return blocks, nbls


def _is_failure_sequence(rtl, gold, is_tcp):
    """rtl/gold: a block's entries. The block ends by the failure sequence: its history
    matches the fault-free one up to a FAILURE, then only FAILURE statuses, and (TCP)
    exactly one Retrieve(HardwareFailure) followed by exactly one Abort."""
    statuses = [e for e in rtl if e[0] == "status"]
    events = [e[1:] for e in rtl if e[0] == "event"]
    first = next((i for i, e in enumerate(statuses) if e[2] != NdisStatus.SUCCESS), None)
    if first is None or statuses[first][2] != NdisStatus.FAILURE:
        return False
    gold_statuses = [e for e in gold if e[0] == "status"]
    if statuses[:first] != gold_statuses[:first]:
        return False
    if any(e[2] != NdisStatus.FAILURE for e in statuses[first:]):
        return False
    if not is_tcp:
        return events == []
    return events == [(int(TcpEventType.RETRIEVE), int(TcpUploadReason.HARDWARE_FAILURE)),
                      (int(TcpEventType.ABORT), 0)]


def classify(rtl_log, gold_log, *, tcp_names, nbl_owner, noticed, hang=False):
    """`nbl_owner`: NBL name -> connection name. `noticed`: the hardware or driver
    reported something (ECC counters, driver consistency errors, halt)."""
    if hang:
        return "hang", "run did not finish"
    rb, rn = outcome_of(rtl_log)
    gb, gn = outcome_of(gold_log)
    failed = set()
    for name in set(rb) | set(gb):
        if rb.get(name, []) == gb.get(name, []):
            continue
        if _is_failure_sequence(rb.get(name, []), gb.get(name, []), name in tcp_names):
            failed.add(name)
            continue
        return "sdc", f"block {name}: {rb.get(name)} != {gb.get(name)}"
    for name in set(rn) | set(gn):
        r, g = rn.get(name, []), gn.get(name, [])
        if r == g:
            continue
        owner = nbl_owner.get(name)
        if owner in failed and r == [("complete", int(NdisStatus.REQUEST_ABORTED))]:
            continue
        return "sdc", f"nbl {name} of {owner}: {r} != {g}"
    # every request still has exactly one ending
    for name in nbl_owner:
        ends = rn.get(name, [])
        if len(ends) > 1:
            return "sdc", f"nbl {name} ended {len(ends)} times: {ends}"
    if failed:
        return "detected", f"failure sequence on {sorted(failed)}"
    return ("corrected", "recovered") if noticed else ("masked", "never read")
