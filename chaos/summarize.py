#!/usr/bin/env python3
"""Sums up a chaos sweep from its report.json files: the figures docs/reliability.md records.

    python3 chaos/summarize.py /tmp/actorkv-sweep
"""
import collections
import json
import pathlib
import re
import sys


def main(sweep_dir: str) -> int:
    reports = sorted(pathlib.Path(sweep_dir).glob("*/report.json"))
    if not reports:
        print(f"no */report.json under {sweep_dir}", file=sys.stderr)
        return 2
    runs = [json.loads(path.read_text()) for path in reports]
    totals = collections.Counter()
    faults = collections.Counter()
    crash_points = collections.Counter()
    failed_checks = collections.Counter()
    linearizable = collections.Counter()
    progress = 0
    failed_runs = []
    for run in runs:
        totals["operations"] += run["Operations"]
        totals["unknown"] += run["Unknown"]
        totals["reads at revision"] += run.get("RevisionReads", 0)
        totals["compactions"] += run.get("Compactions", 0)
        totals["leases granted"] += run.get("LeasesGranted", 0)
        for fault in run["Faults"]:
            faults[fault["Kind"]] += 1
            match = re.search(r" at ([a-z-]+) \(pass", fault["Description"])
            if fault["Kind"] == "crash-point":
                crash_points[match.group(1) + " fired" if match else "not reached, disarmed"] += 1
            if "could not be injected" in fault["Description"]:
                faults["(not injected)"] += 1
        for verdict in run["Verdicts"]:
            if not verdict["Passed"]:
                failed_checks[verdict["Check"]] += 1
            if verdict["Check"] == "linearizable":
                linearizable[verdict["Detail"].split(":")[0]] += 1
            if verdict["Check"].startswith("watch"):
                found = re.search(r"(\d+) progress notifications", verdict["Detail"])
                progress += int(found.group(1)) if found else 0
        if not all(v["Passed"] for v in run["Verdicts"]):
            failed_runs.append(run["Seed"])
    installs = sum(log.read_text(errors="replace").count("Installed the snapshot at index")
                   for path in reports for log in path.parent.glob("*.log"))
    longest = max(runs, key=lambda r: r["LongestUnavailabilitySeconds"])
    print(f"runs: {len(runs)} (seeds {runs[0]['Seed']} to {runs[-1]['Seed']}), {runs[0]['DurationSeconds']:.0f}s each")
    print(f"operations: {totals['operations']:,} ({totals['unknown']:,} unknown outcomes); "
          f"reads judged at their revision: {totals['reads at revision']:,}; compactions: {totals['compactions']:,}; "
          f"leases granted: {totals['leases granted']:,}")
    print(f"faults: {sum(v for k, v in faults.items() if not k.startswith('('))}: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    print("crash points: " + ", ".join(f"{k} {v}" for k, v in sorted(crash_points.items())))
    print("linearizability verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(linearizable.items())))
    print(f"progress notifications checked: {progress:,}; snapshot installs (members catching up from the leader's store): {installs}")
    print(f"longest time without a successful write: {longest['LongestUnavailabilitySeconds']:.1f}s (seed {longest['Seed']})")
    print("failed checks: " + (", ".join(f"{k} {v}" for k, v in sorted(failed_checks.items())) or "none"))
    print("runs with a violation: " + (", ".join(str(s) for s in failed_runs) or "none"))
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/actorkv-sweep"))
