#!/usr/bin/env python3
"""SVG chart of a bench-vs-etcd.sh results file: for each workload, req/s and p99 latency
against the client count (log scale), median of rounds, ActorKv and etcd side by side.

    python3 scripts/bench-chart.py RESULTS.tsv OUT.svg "title"
RESULTS.tsv rows: system, workload, clients, round, req/s, p50 ms, p99 ms, errors."""
import math
import statistics
import sys
from xml.sax.saxutils import escape

results, out, title = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
rows = [line.rstrip("\n").split("\t") for line in open(results) if line.strip()]
workloads = list(dict.fromkeys(r[1] for r in rows))
colors = {"actorkv": "#1f77b4", "etcd": "#d62728"}
panel_w, panel_h, pad = 360, 220, 55
width = 2 * (panel_w + pad) + pad
height = 40 + len(workloads) * (panel_h + pad + 20)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="{pad}" y="22" font-size="14">{escape(title)}</text>']


def median(system, workload, clients, column):
    values = [float(r[column]) for r in rows if r[0] == system and r[1] == workload and int(r[2]) == clients]
    return statistics.median(values) if values else None


for w_index, workload in enumerate(workloads):
    clients = sorted({int(r[2]) for r in rows if r[1] == workload})
    for p_index, (column, label) in enumerate([(4, "req/s"), (6, "p99 latency, ms")]):
        x0 = pad + p_index * (panel_w + pad)
        y0 = 40 + w_index * (panel_h + pad + 20) + 20
        points = {s: [(c, median(s, workload, c, column)) for c in clients] for s in colors}
        top = max((v for s in points for _, v in points[s] if v is not None), default=1) * 1.1 or 1
        lo, hi = math.log2(min(clients)), math.log2(max(clients))
        span = (hi - lo) or 1

        def px(c):
            return x0 + (math.log2(c) - lo) / span * panel_w if len(clients) > 1 else x0 + panel_w / 2

        def py(v):
            return y0 + panel_h - v / top * panel_h

        svg.append(f'<text x="{x0}" y="{y0 - 6}" font-size="12">{escape(workload)}: {escape(label)}</text>')
        svg.append(f'<rect x="{x0}" y="{y0}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#999"/>')
        for i in range(5):
            v = top * i / 4
            svg.append(f'<text x="{x0 - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
            svg.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
        for c in clients:
            svg.append(f'<text x="{px(c):.1f}" y="{y0 + panel_h + 14}" text-anchor="middle">{c}</text>')
        svg.append(f'<text x="{x0 + panel_w / 2}" y="{y0 + panel_h + 28}" text-anchor="middle">clients</text>')
        for system, color in colors.items():
            line = [(px(c), py(v)) for c, v in points[system] if v is not None]
            if len(line) > 1:
                svg.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(color, " ".join(f"{x:.1f},{y:.1f}" for x, y in line)))
            for x, y in line:
                svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        if w_index == 0 and p_index == 0:
            for i, (system, color) in enumerate(colors.items()):
                svg.append(f'<rect x="{x0 + 8}" y="{y0 + 8 + i * 16}" width="10" height="10" fill="{color}"/>')
                svg.append(f'<text x="{x0 + 22}" y="{y0 + 17 + i * 16}">{"ActorKv" if system == "actorkv" else "etcd 3.4.23"}</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
