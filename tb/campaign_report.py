"""A campaign's records turned into its report: campaign.json, the chart, JUnit XML.

`summarise(records)` gives, besides the outcome counts by fault class:
* `bounds`: the exact one-sided 95% upper confidence bound (Clopper-Pearson) on the
  rate of silent data corruption and of hangs: with k events in n injections, the
  largest rate p for which seeing k or fewer has a probability of at least 5%.
  With k = 0 it is 1 - 0.05^(1/n), about 3/n;
* `by_memory` and `by_moment`: the outcomes by the memory (or FSM register) the fault
  hit and by what the engine was doing when it landed (chimney.tb.faults.MOMENTS);
* `coverage`: functional coverage over the bins class x memory x moment that the
  campaign's classes can reach (`chimney.tb.faults.coverage_bins`), the hit count of
  each, and the bins never hit.
"""

import math
import sys
from collections import Counter, defaultdict
from xml.etree import ElementTree as ET

from chimney.contract import MEMORIES
from chimney.tb.classify import OUTCOMES
from chimney.tb.faults import ALL_CLASSES, MOMENTS, coverage_bins

CONFIDENCE = 0.95


def _log_binom_cdf(k, n, p):
    """log P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space."""
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq
             for j in range(k + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def upper_bound(k, n, confidence=CONFIDENCE):
    """The exact one-sided upper confidence bound on a rate with k events in n trials."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence
    if k == 0:
        return 1.0 - alpha ** (1.0 / n)
    lo, hi, target = k / n, 1.0, math.log(alpha)
    for _ in range(100):                 # P(X <= k) falls as p rises: bisect for alpha
        mid = (lo + hi) / 2
        if _log_binom_cdf(k, n, mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def _tally(records):
    c = Counter(r["outcome"] for r in records)
    return {o: c.get(o, 0) for o in OUTCOMES}


def summarise(records, sim, seed, classes=None):
    classes = tuple(classes or ())
    kinds = [k for k in ALL_CLASSES if k in classes or any(r["class"] == k for r in records)]
    by_class = {}
    for kind in kinds:
        mine = [r for r in records if r["class"] == kind]
        by_class[kind] = {"count": len(mine), "outcomes": _tally(mine)}
    groups = {"memory": defaultdict(list), "moment": defaultdict(list)}
    for r in records:
        groups["memory"][r.get("memory") or "none"].append(r)
        groups["moment"][r.get("moment") or "none"].append(r)
    total = _tally(records)
    n = len(records)
    hits = Counter((r["class"], r.get("memory"), r.get("moment")) for r in records)
    bins = coverage_bins(kinds, MEMORIES)
    unhit = [b for b in bins if not hits.get(b)]
    return {
        "simulator": sim,
        "seed": seed,
        "injections": n,
        "by_class": by_class,
        "outcomes": total,
        "used_as_intact": sum(str(r.get("evidence", "")).startswith("used_as_intact") for r in records),
        "bounds": {"confidence": CONFIDENCE,
                   "sdc_rate_upper": upper_bound(total["sdc"], n),
                   "hang_rate_upper": upper_bound(total["hang"], n)},
        "by_memory": {m: {"count": len(rs), "outcomes": _tally(rs)} for m, rs in sorted(groups["memory"].items())},
        "by_moment": {m: {"count": len(groups["moment"][m]), "outcomes": _tally(groups["moment"][m])}
                      for m in [*MOMENTS, *sorted(set(groups["moment"]) - set(MOMENTS))] if m in groups["moment"]},
        "coverage": {"bins": len(bins), "hit": len(bins) - len(unhit),
                     "fraction": round((len(bins) - len(unhit)) / len(bins), 4) if bins else 1.0,
                     "unhit": [list(b) for b in unhit],
                     "hits": {"/".join(map(str, b)): hits.get(b, 0) for b in bins}},
        "cases": [r for r in records if r["outcome"] in ("sdc", "hang")],
    }


def junit(summary, path):
    """JUnit XML: one test case per fault class, failing on any sdc or hang in it (CI
    systems show each class as a test)."""
    suite = ET.Element("testsuite", name=f"chimney-campaign-{summary['simulator']}-seed{summary['seed']}",
                       tests=str(len(summary["by_class"])))
    failures = 0
    for kind, row in summary["by_class"].items():
        case = ET.SubElement(suite, "testcase", classname=f"campaign.{summary['simulator']}", name=kind)
        bad = [r for r in summary["cases"] if r["class"] == kind]
        ET.SubElement(case, "system-out").text = (
            f"{row['count']} injections: " + ", ".join(f"{o} {row['outcomes'][o]}" for o in OUTCOMES))
        if bad:
            failures += 1
            f = ET.SubElement(case, "failure", message=f"{row['outcomes']['sdc']} sdc, {row['outcomes']['hang']} hang")
            f.text = "\n".join(f"#{r['i']} {r.get('point')} {r.get('fault')}: {r['outcome']} ({r.get('evidence', '')[:200]})"
                               for r in bad)
    suite.set("failures", str(failures))
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def chart(summary, path):
    """A stacked bar chart of outcomes by class; returns False without matplotlib (`make
    campaign` installs it; a bare `python -m chimney.tb.campaign` may not have it)."""
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is not installed (make campaign installs it)", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    classes = list(summary["by_class"])
    colours = {"corrected": "#4c9f70", "detected": "#3b75af", "masked": "#b0b0b0", "sdc": "#d62728",
               "hang": "#ff7f0e"}
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0] * len(classes)
    for outcome in OUTCOMES:
        values = [summary["by_class"][c]["outcomes"][outcome] for c in classes]
        ax.bar(classes, values, bottom=bottom, label=outcome, color=colours[outcome])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("injections")
    ax.set_title(f"chimney fault campaign: {summary['injections']} injections on {summary['simulator']} "
                 f"(seed {summary['seed']})", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
