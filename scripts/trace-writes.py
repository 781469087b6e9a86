#!/usr/bin/env python3
"""Where a write's time goes: joins the write-path trace files of a cluster's members.

    scripts/trace-writes.py [--last N] [--json] FILE [FILE...]

Each FILE is one member's `actorkv.diagnostics.write-path-trace-file` (lines `TICKS EVENT NODE
VALUE...`, ticks of one monotonic clock shared by the processes of one machine). For every write
that was received, applied and answered, it follows the write's log index through the leader
and the follower whose acknowledgement came back first (the one that completed the quorum of a
3-member cluster), and prints each step's p50 / p90 / p99 in microseconds. --last N keeps the N
writes received last (say, the measured phase after a warm-up). The leader's own WAL write runs
beside the replication steps, so steps do not add up to the total; the commit waits for the later
of the two. Traces taken across a leader change mix terms: trace a steady leader.
"""
import argparse
import bisect
import json
import re
import sys
from collections import defaultdict


def load(paths):
    """Events by kind; the tick frequency from the files' headers."""
    frequency = None
    events = defaultdict(list)
    for path in paths:
        with open(path) as lines:
            for line in lines:
                if line.startswith("#"):
                    found = re.search(r"ticks of (\d+) a second", line)
                    if found:
                        frequency = int(found.group(1))
                    continue
                fields = line.split()
                if len(fields) >= 3:
                    events[fields[1]].append((int(fields[0]), *map(int, fields[2:])))
    if frequency is None:
        sys.exit("trace-writes.py: no trace header found (are these write-path trace files?)")
    return events, frequency


class Timeline:
    """One kind of event of one node (or of one node and peer), searchable by log index."""

    def __init__(self, events):
        """events: (ticks, last index covered)."""
        self.times, self.lasts, running = [], [], 0
        for ticks, last in sorted(events):
            # Indexes only grow within a leader's term; the running maximum keeps the search sound.
            running = max(running, last)
            self.times.append(ticks)
            self.lasts.append(running)

    def first_covering(self, index):
        """Time of the first event whose last index is at or past the index, or None."""
        position = bisect.bisect_left(self.lasts, index)
        return self.times[position] if position < len(self.lasts) else None


def timelines(events, kind, key_fields, last_field):
    """A Timeline per key: events (ticks, node, values...) grouped by the payload fields named."""
    grouped = defaultdict(list)
    for event in events.get(kind, []):
        grouped[tuple(event[1 + f] for f in key_fields)].append((event[0], event[1 + last_field]))
    return {key: Timeline(group) for key, group in grouped.items()}


def first_covering(lines, key, index):
    """When the timeline of that key first covered the index; None if it has no such event."""
    line = lines.get(key)
    return line.first_covering(index) if line else None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main():
    parser = argparse.ArgumentParser(description="Where a write's time goes, from write-path trace files.")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--last", type=int, default=0, help="only the N writes received last")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    arguments = parser.parse_args()

    events, frequency = load(arguments.files)
    micros = 1e6 / frequency
    received = {request: (ticks, node) for ticks, node, request in events.get("WriteReceived", [])}
    answered = {request: ticks for ticks, node, request in events.get("WriteAnswered", [])}
    applied = {request: (ticks, node, index) for ticks, node, request, index in events.get("WriteApplied", [])}
    appended = {request: (ticks, node) for ticks, node, request, index in events.get("ProposalAppended", [])}
    wal_started = timelines(events, "WalWriteStarted", [0], 2)
    wal_finished = timelines(events, "WalWriteFinished", [0], 2)
    committed = timelines(events, "EntriesCommitted", [0], 2)
    append_sent = timelines(events, "AppendSent", [0, 1], 2)
    append_received = timelines(events, "AppendReceived", [0, 1], 2)
    ack_sent = timelines(events, "AppendResponseSent", [0, 1], 2)
    ack_received = timelines(events, "AppendResponseReceived", [0, 1], 2)

    requests = sorted((r for r in received if r in answered and r in applied), key=lambda r: received[r][0])
    if arguments.last:
        requests = requests[-arguments.last:]
    if not requests:
        sys.exit("trace-writes.py: no write was received, applied and answered in these files")

    steps = defaultdict(list)
    leaders = set()

    def record(step, later, earlier):
        if later is not None and earlier is not None:
            steps[step].append((later - earlier) * micros)

    for request in requests:
        received_at, node = received[request]
        applied_at, _, index = applied[request]
        # The leader: whoever gave it its index, else whoever sent it to peers, else the node itself.
        leader = appended[request][1] if request in appended else next(
            (sender for (sender, _), line in append_sent.items() if line.first_covering(index) is not None), node)
        leaders.add(leader)
        leader_wal_start = first_covering(wal_started, (leader,), index)
        leader_wal_end = first_covering(wal_finished, (leader,), index)
        appended_at = appended[request][0] if request in appended else leader_wal_start
        record("received -> appended at the leader", appended_at, received_at)
        record("leader: appended -> its WAL write starts", leader_wal_start, appended_at)
        record("leader: WAL write (write + fdatasync)", leader_wal_end, leader_wal_start)

        # The follower whose acknowledgement reached the leader first.
        best = None
        for (sender, follower), sent_line in append_sent.items():
            if sender != leader:
                continue
            chain = [
                sent_line.first_covering(index),
                first_covering(append_received, (follower, leader), index),
                first_covering(wal_started, (follower,), index),
                first_covering(wal_finished, (follower,), index),
                first_covering(ack_sent, (follower, leader), index),
                first_covering(ack_received, (leader, follower), index),
            ]
            if None not in chain and (best is None or chain[-1] < best[-1]):
                best = chain
        if best is not None:
            sent, follower_received, follower_wal_start, follower_wal_end, follower_ack, leader_ack = best
            record("leader: appended -> append handed to Akka.Remote", sent, appended_at)
            record("Akka.Remote: leader -> follower's Raft actor", follower_received, sent)
            record("follower: append received -> its WAL write starts", follower_wal_start, follower_received)
            record("follower: WAL write (write + fdatasync)", follower_wal_end, follower_wal_start)
            record("follower: WAL written -> ack handed to Akka.Remote", follower_ack, follower_wal_end)
            record("Akka.Remote: follower -> leader's Raft actor", leader_ack, follower_ack)
            quorum_at = max(leader_ack, leader_wal_end) if leader_wal_end is not None else leader_ack
        else:
            quorum_at = leader_wal_end
        leader_committed = first_covering(committed, (leader,), index)
        record("leader: quorum durable -> committed, handed to apply", leader_committed, quorum_at)
        node_committed = first_covering(committed, (node,), index)
        if node != leader:
            record("receiving follower: leader committed -> it commits", node_committed, leader_committed)
        record("receiving node: committed -> applied", applied_at, node_committed if node_committed is not None else appended_at)
        record("receiving node: applied -> request resumed", answered[request], applied_at)
        record("total: received -> request resumed", answered[request], received_at)

    table = [
        {"step": step, "writes": len(values), "p50_us": round(percentile(values, 0.5), 1),
         "p90_us": round(percentile(values, 0.9), 1), "p99_us": round(percentile(values, 0.99), 1)}
        for step, values in steps.items()
    ]
    if arguments.json:
        print(json.dumps({"writes": len(requests), "leaders": sorted(leaders), "steps": table}, indent=2))
        return
    print(f"{len(requests)} writes, leader(s) {', '.join(f'{leader:x}' for leader in sorted(leaders))}; microseconds")
    print(f"{'step':58s} {'writes':>7s} {'p50':>9s} {'p90':>9s} {'p99':>9s}")
    for row in table:
        print(f"{row['step']:58s} {row['writes']:7d} {row['p50_us']:9.1f} {row['p90_us']:9.1f} {row['p99_us']:9.1f}")


if __name__ == "__main__":
    main()
