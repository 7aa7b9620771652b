#!/usr/bin/env python3
"""Writes the side-by-side section of docs/benchmarks.md from a bench/compare.sh results dir.

    python3 bench/report.py bench/results/<timestamp> [--doc docs/benchmarks.md]
                            [--plots docs/benchmarks]

Reads results.jsonl (one measurement per line, tagged by compare.sh with `case`, `target` and
`run`) and machine.json, and replaces what lies between the `<!-- compare:begin -->` and
`<!-- compare:end -->` markers of the document; the rest of the document is left as it is.
Without the markers, the section (and a hand-written "where the time goes" section after it)
is inserted below the document's title. Plots are SVG files written with the standard library
only (see `grouped_bars`), so the report needs nothing beyond Python 3.11.

Ratios are always Quire's value divided by the other server's, in the metric's own unit; each
table says whether higher or lower is better for that metric.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"
TARGETS = ["quire", "quire-hocuspocus", "y-websocket-server", "hocuspocus", "null-relay"]
PEERS = ["y-websocket-server", "hocuspocus", "null-relay"]
TARGET_NAMES = {
    "quire": "Quire",
    "quire-hocuspocus": "Quire /hocuspocus",
    "y-websocket-server": "y-websocket-server",
    "hocuspocus": "Hocuspocus",
    "null-relay": "null relay",
}
WORKLOAD_TITLES = {
    "W1": "W1 trace replay",
    "W2": "W2 hot room",
    "W3": "W3 many rooms of 3 clients",
    "W4": "W4 join storm (not against the null relay: it keeps no document)",
    "W5": "W5 awareness storm (10 Hz)",
    "W6": "W6 cold load (Quire only)",
    "W7": "W7 idle clients",
}


# ------------------------------------------------------------------------------------------
# Reading results.


@dataclass
class Run:
    """One measurement of one case against one target (the last, if a case ran twice)."""

    record: dict

    @property
    def valid(self) -> bool:
        return bool(self.record.get("valid")) and not self.record.get("failed")

    @property
    def failed(self) -> bool:
        return bool(self.record.get("failed"))

    @property
    def problems(self) -> list[str]:
        return list(self.record.get("problems") or [])

    def problem_summary(self, limit: int = 240) -> str:
        """The first problem, shortened, and how many more there are: a run that lost 2,000
        rooms lists each of them in results.jsonl, not in the document."""
        problems = self.problems
        if not problems:
            return "no detail"
        first = problems[0] if len(problems[0]) <= limit else problems[0][: limit - 1] + "…"
        return first + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")

    def metric(self, name: str):
        value = (self.record.get("metrics") or {}).get(name)
        return value if isinstance(value, (int, float)) else None

    def latency(self, name: str):
        value = (self.record.get("latency_ms") or {}).get(name)
        return value if isinstance(value, (int, float)) else None

    def server(self, name: str):
        value = (self.record.get("server") or {}).get(name)
        return value if isinstance(value, (int, float)) else None


@dataclass
class Results:
    machine: dict
    # (workload, case) -> target -> Run
    runs: dict = field(default_factory=dict)
    # workload -> cases in the order they ran
    cases: dict = field(default_factory=dict)
    # (workload, case, target) run more than once: the earlier runs' outcomes
    reruns: dict = field(default_factory=dict)

    def get(self, workload: str, case: str, target: str) -> Run | None:
        return self.runs.get((workload, case), {}).get(target)

    def targets(self) -> list[str]:
        seen = {target for by_target in self.runs.values() for target in by_target}
        return [target for target in TARGETS if target in seen]


def load_results(directory: Path) -> Results:
    machine_path = directory / "machine.json"
    machine = json.loads(machine_path.read_text()) if machine_path.exists() else {}
    results = Results(machine=machine)
    with open(directory / "results.jsonl") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                print(f"report.py: results.jsonl line {number}: {error}", file=sys.stderr)
                continue
            workload = record.get("workload") or "?"
            case = record.get("case") or json.dumps(record.get("params") or {}, sort_keys=True)
            target = record.get("target") or record.get("label") or "?"
            by_target = results.runs.setdefault((workload, case), {})
            if target in by_target:
                earlier = by_target[target]
                outcome = "failed" if earlier.failed else ("valid" if earlier.valid else "invalid")
                detail = earlier.problem_summary() if earlier.problems else ""
                results.reruns.setdefault((workload, case, target), []).append(
                    outcome + (f" ({detail})" if detail else "")
                )
            by_target[target] = Run(record)
            cases = results.cases.setdefault(workload, [])
            if case not in cases:
                cases.append(case)
    return results


# ------------------------------------------------------------------------------------------
# Formatting.


def number(value, digits: int = 3) -> str:
    """A value with `digits` significant digits and thousands separators."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(value, decimals)
    if decimals == 0:
        return f"{int(round(rounded)):,}"
    return f"{rounded:,.{decimals}f}"


def kib(value) -> str:
    return "—" if value is None else f"{value / 1024:,.1f} KiB"


def mib(value) -> str:
    return "—" if value is None else f"{value / (1024 * 1024):,.1f} MiB"


def ratio(quire, other) -> str:
    if quire is None or other is None or other == 0:
        return "—"
    return f"{quire / other:.2f}×"


@dataclass
class Metric:
    """One column group of a workload table: how to read it from a run and show it."""

    title: str
    read: callable
    better: str  # "higher" or "lower"
    show: callable = number


def cell(run: Run | None, metric: Metric, notes: list[str], label: str) -> str:
    """The table text for one run; a failed or invalid run gets one numbered note."""
    if run is None:
        return "not run"
    if run.failed or not run.valid:
        kind = "failed" if run.failed else "invalid"
        note = f"{label}: {kind}: {run.problem_summary()}"
        if note not in notes:
            notes.append(note)
        reference = notes.index(note) + 1
        if run.failed:
            return f"failed [{reference}]"
        return f"{metric.show(metric.read(run))} ⚠[{reference}]"
    return metric.show(metric.read(run))


def value_of(run: Run | None, metric: Metric):
    """The value for ratios and plots: none for failed runs (invalid ones are flagged)."""
    if run is None or run.failed:
        return None
    return metric.read(run)


def workload_table(results: Results, workload: str, metrics: list[Metric]) -> list[str]:
    """Absolute numbers per target and the Quire / other ratios, one row per case and metric."""
    targets = [
        target
        for target in results.targets()
        if any(results.get(workload, case, target) for case in results.cases.get(workload, []))
    ]
    others = [target for target in targets if target != "quire"]
    header = ["case", "metric"] + [TARGET_NAMES[target] for target in targets]
    if "quire" in targets:
        header += [f"Quire / {TARGET_NAMES[other]}" for other in others]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes: list[str] = []
    for case in results.cases.get(workload, []):
        for metric in metrics:
            runs = [results.get(workload, case, target) for target in targets]
            if metric is not metrics[0] and all(
                run is None or run.failed or metric.read(run) is None for run in runs
            ):
                continue  # e.g. a latency this workload's load generator does not measure
            row = [case, f"{metric.title} ({metric.better} is better)"]
            values = {}
            for target in targets:
                run = results.get(workload, case, target)
                row.append(cell(run, metric, notes, f"{case}, {TARGET_NAMES[target]}"))
                values[target] = value_of(run, metric)
            if "quire" in targets:
                row += [ratio(values.get("quire"), values.get(other)) for other in others]
            lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines.append("")
        lines += [f"{index}. {note}" for index, note in enumerate(notes, 1)]
    return lines


# ------------------------------------------------------------------------------------------
# Workloads: what each table shows.

UPDATES_PER_SECOND = Metric("updates/s", lambda run: run.metric("updates_per_second"), "higher")
DELIVERIES_PER_SECOND = Metric(
    "deliveries/s", lambda run: run.metric("deliveries_per_second"), "higher"
)
P50 = Metric("p50 ms", lambda run: run.latency("p50"), "lower")
P99 = Metric("p99 ms", lambda run: run.latency("p99"), "lower")
P999 = Metric("p99.9 ms", lambda run: run.latency("p999"), "lower")
def busy_percent(run: Run):
    """Server CPU time over the measured seconds: well under 100% of its one core means the
    load generator, not the server, set the pace."""
    cpu, seconds = run.server("cpu_seconds"), run.metric("seconds")
    return None if cpu is None or not seconds else 100 * cpu / seconds


SERVER_BUSY = Metric("server CPU, % of its core", busy_percent, "lower")
SEARCH_RATE = Metric(
    "highest deliveries/s with p99 < limit",
    lambda run: run.metric("max_deliveries_per_second_p99_under_limit"),
    "higher",
)
CPU_PERCENT = Metric(
    "server CPU %",
    lambda run: run.metric("cpu_percent"),
    "lower",
)
SYNC_SECONDS = Metric("s until all synced", lambda run: run.metric("seconds_until_all_synced"), "lower")
AWARENESS = Metric(
    "awareness deliveries/s", lambda run: run.metric("awareness_deliveries_per_second"), "higher"
)
PER_CONNECTION = Metric(
    "server memory per connection",
    lambda run: run.metric("rss_per_connection_bytes"),
    "lower",
    kib,
)
PEAK_RSS = Metric("server peak RSS", lambda run: run.server("rss_bytes_peak"), "lower", mib)
COLD_P99 = Metric("cold first sync p99 ms", lambda run: run.latency("p99"), "lower")
COLD_P50 = Metric("cold first sync p50 ms", lambda run: run.latency("p50"), "lower")
WARM_P99 = Metric("warm first sync p99 ms", lambda run: run.metric("warm_p99_ms"), "lower")
RSS_BASELINE = Metric("RSS baseline", lambda run: run.metric("rss_baseline_bytes"), "lower", mib)
RSS_AFTER = Metric("RSS after unload", lambda run: run.metric("rss_after_unload_bytes"), "lower", mib)


def case_metrics(workload: str, case: str) -> list[Metric]:
    if workload == "W1":
        return [UPDATES_PER_SECOND, SERVER_BUSY]
    if workload == "W2":
        if case.endswith("saturate"):
            return [DELIVERIES_PER_SECOND, SERVER_BUSY]
        if case.endswith("fixed"):
            return [P50, P99, P999]
        return [SEARCH_RATE]
    if workload == "W3":
        return [P99, CPU_PERCENT]
    if workload == "W4":
        return [SYNC_SECONDS]
    if workload == "W5":
        return [AWARENESS, P99]
    if workload == "W6":
        return [COLD_P50, COLD_P99, WARM_P99, RSS_BASELINE, RSS_AFTER]
    if workload == "W7":
        return [PER_CONNECTION, PEAK_RSS]
    return []


def workload_section(results: Results, workload: str) -> list[str]:
    lines = [f"#### {WORKLOAD_TITLES.get(workload, workload)}", ""]
    # One table per group of cases sharing metrics (W2 mixes saturate / fixed / search).
    groups: dict[tuple, list[str]] = {}
    for case in results.cases.get(workload, []):
        key = tuple(metric.title for metric in case_metrics(workload, case))
        groups.setdefault(key, []).append(case)
    for cases in groups.values():
        sub = Results(results.machine, results.runs, {workload: cases})
        lines += workload_table(sub, workload, case_metrics(workload, cases[0]))
        lines.append("")
    return lines


# ------------------------------------------------------------------------------------------
# Targets from issue #7.


@dataclass
class Verdict:
    goal: str
    measured: str
    status: str  # "met", "missed by ...", "not measured"


def status(met: bool, shortfall: str, *runs: Run) -> str:
    if not all(run.valid for run in runs):
        verdict = "met" if met else f"missed ({shortfall})"
        return f"**not established**: a run failed its checks (would be {verdict})"
    return "**met**" if met else f"**missed** ({shortfall})"


def find_case(results: Results, workload: str, wanted: str) -> str | None:
    """The case named `wanted` if it ran (a quick run uses other sizes, so it has none)."""
    return wanted if wanted in results.cases.get(workload, []) else None


def usable(run: Run | None) -> bool:
    return run is not None and not run.failed


def evaluate_targets(results: Results) -> list[Verdict]:
    verdicts: list[Verdict] = []
    not_measured = "not measured"

    def run(workload, case, target):
        return results.get(workload, case, target) if case else None

    def flag(*runs):
        return "" if all(r is not None and r.valid for r in runs) else " ⚠"

    # W1
    case = find_case(results, "W1", "replay")
    quire, ywss, null = (run("W1", case, t) for t in ("quire", "y-websocket-server", "null-relay"))
    goal = "W1: Quire (durable) ≥ 3× y-websocket-server updates/s"
    if usable(quire) and usable(ywss) and quire.metric("updates_per_second") and ywss.metric("updates_per_second"):
        r = quire.metric("updates_per_second") / ywss.metric("updates_per_second")
        verdicts.append(Verdict(goal, f"{r:.2f}×" + flag(quire, ywss), status(r >= 3, f"{(1 - r / 3) * 100:.0f}% short: needs {number(3 * ywss.metric('updates_per_second'))}/s, has {number(quire.metric('updates_per_second'))}/s", quire, ywss)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))
    goal = "W1: Quire within 2× of the null relay (null relay / Quire ≤ 2)"
    if usable(quire) and usable(null) and quire.metric("updates_per_second") and null.metric("updates_per_second"):
        r = null.metric("updates_per_second") / quire.metric("updates_per_second")
        busy = busy_percent(null)
        bound = f" (the null relay used {busy:.0f}% of its core: the load generator set the pace, so this is not its ceiling)" if busy is not None and busy < 70 else ""
        verdicts.append(Verdict(goal, f"null relay / Quire = {r:.2f}×" + bound + flag(quire, null), status(r <= 2, f"{r / 2:.2f}× too slow: needs {number(null.metric('updates_per_second') / 2)}/s", quire, null)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))

    # W2
    case = find_case(results, "W2", "readers=1000 saturate")
    quire, ywss = run("W2", case, "quire"), run("W2", case, "y-websocket-server")
    goal = "W2: 1000 readers, Quire ≥ 10× y-websocket-server deliveries/s"
    if usable(quire) and usable(ywss) and quire.metric("deliveries_per_second") and ywss.metric("deliveries_per_second"):
        r = quire.metric("deliveries_per_second") / ywss.metric("deliveries_per_second")
        verdicts.append(Verdict(goal, f"{r:.2f}×" + flag(quire, ywss), status(r >= 10, f"{(1 - r / 10) * 100:.0f}% short of 10×", quire, ywss)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))
    case = find_case(results, "W2", "readers=1000 fixed")
    quire, null = run("W2", case, "quire"), run("W2", case, "null-relay")
    goal = "W2: 1000 readers at 20,000 deliveries/s, Quire p99 ≤ null relay p99 + 20%"
    if usable(quire) and usable(null) and quire.latency("p99") is not None and null.latency("p99"):
        limit = null.latency("p99") * 1.2
        q = quire.latency("p99")
        verdicts.append(Verdict(goal, f"{number(q)} ms vs {number(null.latency('p99'))} ms" + flag(quire, null), status(q <= limit, f"{number(q - limit)} ms over {number(limit)} ms ({q / null.latency('p99'):.2f}× the null relay)", quire, null)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))

    # W4
    case = find_case(results, "W4", "clients=5000")
    quire = run("W4", case, "quire")
    goal = "W4: 5000 clients all synced in < 3 s"
    if usable(quire) and quire.metric("seconds_until_all_synced") is not None:
        s = quire.metric("seconds_until_all_synced")
        verdicts.append(Verdict(goal, f"{number(s)} s" + flag(quire), status(s < 3, f"{number(s - 3)} s over", quire)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))

    # W7
    for rooms in ("own", "shared"):
        case = find_case(results, "W7", f"clients=19000 {rooms}")
        quire = run("W7", case, "quire")
        goal = f"W7: < 8 KiB per idle connection, 19,000 clients, {rooms} room{'s' if rooms == 'own' else ''}"
        if usable(quire) and quire.metric("rss_per_connection_bytes") is not None:
            per = quire.metric("rss_per_connection_bytes")
            baseline = quire.server("rss_bytes_start") or 0
            projection = (baseline + per * 1_000_000) / 2**30
            verdicts.append(Verdict(goal, f"{kib(per)} (1,000,000 clients: ~{projection:.1f} GiB)" + flag(quire), status(per < 8192, f"{kib(per - 8192)} over, {per / 8192:.2f}× the goal", quire)))
        else:
            verdicts.append(Verdict(goal, "—", not_measured))

    # W6
    case = find_case(results, "W6", "documents=1000")
    quire = run("W6", case, "quire")
    goal = "W6: cold first sync of automerge-paper p99 < 10 ms"
    if usable(quire) and quire.latency("p99") is not None:
        p99 = quire.latency("p99")
        verdicts.append(Verdict(goal, f"{number(p99)} ms" + flag(quire), status(p99 < 10, f"{number(p99 - 10)} ms over", quire)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))
    goal = "W6: memory back within 10% of baseline after unload"
    baseline = quire.metric("rss_baseline_bytes") if usable(quire) else None
    after = quire.metric("rss_after_unload_bytes") if usable(quire) else None
    if baseline and after is not None:
        growth = after / baseline - 1
        verdicts.append(Verdict(goal, f"{mib(after)} vs {mib(baseline)} ({growth * 100:+.0f}%)" + flag(quire), status(growth <= 0.10, f"{(growth - 0.10) * 100:.0f} points over", quire)))
    else:
        verdicts.append(Verdict(goal, "—", not_measured))
    return verdicts


# ------------------------------------------------------------------------------------------
# SVG: grouped bar charts, standard library only.

# One colour per target, in TARGETS order (Okabe-Ito, readable by colour-blind readers).
COLOURS = ["#0072B2", "#56B4E9", "#E69F00", "#009E73", "#999999"]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def grouped_bars(title: str, categories: list[str], series: dict, unit: str, log_scale: bool, colours: list[str]) -> str:
    """One group of bars per category, one bar per series; missing values leave a gap
    labelled "n/a". Values are printed above the bars."""
    width, height = 760, 380
    left, right, top, bottom = 80, 20, 50, 80
    plot_width, plot_height = width - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None and v > 0]
    if log_scale:
        low = 10 ** math.floor(math.log10(min(values)))
        high = 10 ** math.ceil(math.log10(max(values)))
        if high == low:
            high = low * 10
        ticks = [low * 10**k for k in range(round(math.log10(high / low)) + 1)]

        def y_of(v: float) -> float:
            return top + plot_height * (1 - (math.log10(v) - math.log10(low)) / math.log10(high / low))
    else:
        high = nice_ceiling(max(values) * 1.1)
        ticks = [high * k / 5 for k in range(6)]

        def y_of(v: float) -> float:
            return top + plot_height * (1 - v / high)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in ticks:
        y = y_of(tick) if tick > 0 else top + plot_height
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(number(tick, 2))}</text>')
    out.append(f'<text x="16" y="{top + plot_height / 2}" transform="rotate(-90 16 {top + plot_height / 2})" text-anchor="middle">{escape(unit)}</text>')
    group_width = plot_width / max(1, len(categories))
    bar_width = group_width * 0.8 / max(1, len(series))
    for index, category in enumerate(categories):
        group_left = left + index * group_width + group_width * 0.1
        for position, (label, vs) in enumerate(series.items()):
            x = group_left + position * bar_width
            value = vs[index] if index < len(vs) else None
            if value is None or value <= 0:
                out.append(f'<text x="{x + bar_width / 2:.1f}" y="{top + plot_height - 4}" text-anchor="middle" font-size="9" fill="#666">n/a</text>')
                continue
            y = y_of(value)
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width * 0.92:.1f}" height="{top + plot_height - y:.1f}" fill="{colours[position % len(colours)]}"><title>{escape(label)}: {escape(number(value))} {escape(unit)}</title></rect>')
            out.append(f'<text x="{x + bar_width * 0.46:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">{escape(number(value, 2))}</text>')
        out.append(f'<text x="{group_left + group_width * 0.4:.1f}" y="{top + plot_height + 16}" text-anchor="middle">{escape(category)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_height}" y2="{top + plot_height}" stroke="#333"/>')
    legend_x = left
    for position, label in enumerate(series):
        out.append(f'<rect x="{legend_x}" y="{height - 28}" width="12" height="12" fill="{colours[position % len(colours)]}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{height - 18}">{escape(label)}</text>')
        legend_x += 30 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------
# Plots.


def series_for(results: Results, workload: str, cases: list[str], metric: Metric):
    targets = results.targets()
    return {
        TARGET_NAMES[target]: [value_of(results.get(workload, case, target), metric) for case in cases]
        for target in targets
        if any(results.get(workload, case, target) for case in cases)
    }


def short_case(case: str) -> str:
    return case.replace(" saturate", "").replace(" fixed", "").replace(" search", "")


def write_plots(results: Results, plots: Path, doc: Path) -> list[str]:
    """Writes the SVG files; returns the Markdown that shows them."""
    plots.mkdir(parents=True, exist_ok=True)
    for old in plots.glob("compare-*.svg"):
        old.unlink()
    lines: list[str] = []

    def plot(name: str, title: str, workload: str, cases: list[str], metric: Metric, unit: str, log: bool = False, scale: float = 1.0):
        if not cases:
            return
        series = series_for(results, workload, cases, metric)
        series = {
            label: [None if value is None else value * scale for value in values]
            for label, values in series.items()
        }
        if not any(value for values in series.values() for value in values):
            return
        svg = grouped_bars(
            title=title,
            categories=[short_case(case) for case in cases],
            series=series,
            unit=unit,
            log_scale=log,
            colours=[COLOURS[TARGETS.index(t)] for t in TARGETS if TARGET_NAMES[t] in series],
        )
        path = plots / f"compare-{name}.svg"
        path.write_text(svg)
        lines.append(f"![{title}]({os.path.relpath(path, doc.parent)})")
        lines.append("")

    cases = results.cases
    plot("w1-replay", "W1 trace replay: updates/s (higher is better)", "W1", cases.get("W1", []), UPDATES_PER_SECOND, "updates/s")
    w2 = cases.get("W2", [])
    plot("w2-saturate", "W2 hot room: most deliveries/s by readers (log scale; higher is better)", "W2", [c for c in w2 if c.endswith("saturate")], DELIVERIES_PER_SECOND, "deliveries/s", log=True)
    plot("w2-fixed-p99", "W2 hot room at 20,000 deliveries/s: p99 latency (log scale; lower is better)", "W2", [c for c in w2 if c.endswith("fixed")], P99, "ms", log=True)
    plot("w2-search", "W2 hot room: highest deliveries/s with p99 < 50 ms (log scale; higher is better)", "W2", [c for c in w2 if c.endswith("search")], SEARCH_RATE, "deliveries/s", log=True)
    plot("w3-p99", "W3 many rooms: p99 latency (lower is better)", "W3", cases.get("W3", []), P99, "ms")
    plot("w3-cpu", "W3 many rooms: server CPU % (lower is better)", "W3", cases.get("W3", []), CPU_PERCENT, "% of a core")
    plot("w4-sync", "W4 join storm: seconds until all synced (lower is better)", "W4", cases.get("W4", []), SYNC_SECONDS, "s")
    plot("w5-awareness", "W5 awareness storm: deliveries/s (higher is better)", "W5", cases.get("W5", []), AWARENESS, "deliveries/s")
    plot("w7-memory", "W7 idle clients: server memory per connection (lower is better)", "W7", cases.get("W7", []), PER_CONNECTION, "KiB", scale=1 / 1024)
    return lines


# ------------------------------------------------------------------------------------------
# The section.


def machine_lines(machine: dict) -> list[str]:
    peers = machine.get("peers") or {}
    memory = machine.get("memory_bytes")
    rows = [
        ("date", machine.get("date")),
        ("CPU", f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores"
         + (f" ({machine['virtualization']})" if machine.get("virtualization") not in (None, "none", "unknown") else "")),
        ("memory", f"{memory / 2**30:.1f} GiB" if memory else "?"),
        ("kernel", machine.get("kernel")),
        ("pinning", "server on core 0, load generator on core 1 (`taskset`)" if machine.get("pinned") else "not pinned (fewer than 2 cores)"),
        ("load average (1, 5, 15 min) at start / end", " ".join(machine.get("load_average_at_start") or [])
         + " / " + " ".join(machine.get("load_average_at_end") or ["?"])),
        ("Quire", f"{machine.get('quire_version', '?')}, commit {machine.get('quire_commit', '?')}, {machine.get('rustc', '?')}"),
        ("Node.js", machine.get("node")),
        ("peers", ", ".join(f"{name} {version}" for name, version in peers.items())),
        ("open files limit", machine.get("open_files_limit")),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows if value]
    return lines


SETTINGS = """\
How each server runs (every run starts a fresh server process; Quire also gets a fresh data
directory):

- **Quire**: `quire serve --durability strict` (the default: every update is flushed to disk
  before anyone else sees it) with a fresh sled data directory, `RUST_LOG=warn`, and only the
  abuse limits raised for a load generator that is one fast client on a few addresses:
  `--max-messages-per-second 1000000 --max-bytes-per-second 100000000000
  --max-connections-per-ip 1000000 --max-connections 1000000`.
- **Quire /hocuspocus** (W2 only): the same server, the load generator speaking the Hocuspocus
  protocol to its `/hocuspocus` endpoint, to show what the multiplexed protocol costs next to
  `/ws` (both run the one connection loop, `server/src/socket_loop.rs`).
- **y-websocket-server**: the package's own `y-websocket` bin (`src/server.js`, its `ws` 6.x),
  default settings: in-memory documents, no persistence (`YPERSISTENCE` unset), gc on.
- **Hocuspocus**: `new Server({ quiet: true })`, no extensions: no persistence, no throttle,
  default debounce; it listens on 127.0.0.1 (bench/peers/hocuspocus-server.mjs). The load
  generator speaks the Hocuspocus protocol to it (Auth first, document name on every message).
- **null relay** (`null-relay`, bench/src/bin/null_relay.rs): the same WebSocket stack as Quire
  (tokio, tokio-tungstenite, TCP_NODELAY, mimalloc, 4 KiB buffers) forwarding every frame to the
  other clients of the room with no CRDT work. It answers a SyncStep1 with an empty document and
  never sends a late joiner the document, which is why W4 (join storm) does not run against it.

Neither peer persists anything, while Quire writes every update to disk before relaying it: the
durable-vs-memory difference is part of every Quire / peer ratio. W6 (cold load from storage)
therefore runs against Quire only.
"""

REPRODUCE = """\
```sh
bench/compare.sh            # everything, about 25 minutes on 2 cores; writes this section
bench/compare.sh --quick    # smoke run of a few minutes (tiny sizes; numbers not comparable)
bench/compare.sh --only W2,W7 --targets quire,null-relay
python3 bench/report.py bench/results/<timestamp>   # rewrite this section from saved results
```

Needs Node.js 20 and npm (the peers are pinned in bench/peers/package-lock.json), `taskset`,
`curl`, Python 3.11 and the automerge-paper trace (`../shared/data/traces`, or set
`QUIRE_TRACES_DIR`). Raw results, every server's log and every load-generator log are kept in
`bench/results/<timestamp>/`.
"""

PLACEHOLDER = """\
### Side by side: where the time goes

(Hand-written from profiles of the run above; `bench/report.py` never changes this section.)
"""


def shown_path(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def render_section(results: Results, results_dir: Path, doc: Path, plots: Path) -> str:
    machine = results.machine
    lines = [BEGIN, "", "<!-- Generated by bench/report.py from bench/compare.sh results: edit those, not this section. -->", ""]
    lines += ["## Side by side: Quire, y-websocket-server, Hocuspocus and a null relay", ""]
    if machine.get("quick"):
        lines += [
            "> **This is a `--quick` smoke run**: tiny sizes, so the numbers say only that",
            "> every path works; they are not the comparison. Run `bench/compare.sh` for that.",
            "",
        ]
    lines += [
        "Every workload ran against each server in the same run, on the same machine, one",
        "server at a time, with the server on one core and the load generator (`quire-bench`) on",
        "the other. Ratios are Quire's value divided by the other server's, in the same unit: for",
        "a throughput above 1× means Quire is faster, for a latency or a memory figure below 1×",
        "means Quire is better.",
        "",
        f"Results: `{shown_path(results_dir, doc.parent.parent)}` (not committed).",
        "",
        "### Machine",
        "",
    ]
    lines += machine_lines(machine)
    busiest = max(
        (float(load[0]) for load in (machine.get("load_average_at_start"), machine.get("load_average_at_end")) if load),
        default=0.0,
    )
    if busiest > 0.5 * (machine.get("cores") or 1):
        lines += [
            "",
            f"> The 1-minute load average reached {busiest:.1f} on {machine.get('cores')} cores around",
            "> this run: other jobs shared the machine, so absolute numbers are noisier than on",
            "> an idle one. Each ratio compares servers measured minutes apart under the same noise.",
        ]
    lines += ["", "### Servers", "", SETTINGS, "### Targets from issue #7", ""]
    verdicts = evaluate_targets(results)
    lines += ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.goal} | {v.measured} | {v.status} |" for v in verdicts]
    lines += [""]
    if machine.get("quick"):
        lines += ["(A quick run does not use the sizes the targets name, so they show as not measured.)", ""]
    lines += ["### Results per workload", ""]
    for workload in sorted(results.cases):
        lines += workload_section(results, workload)
    invalid = [
        (workload, case, target, run)
        for (workload, case), by_target in results.runs.items()
        for target, run in by_target.items()
        if not run.valid
    ]
    lines += ["### Invalid and failed runs", ""]
    if invalid:
        lines += [
            "A run is invalid when the load generator's correctness checks failed (text mismatch,",
            "missed update...), and failed when it did not complete. Their numbers are shown",
            "(flagged) where they exist but do not count towards a target.",
            "",
        ]
        for workload, case, target, run in invalid:
            kind = "failed" if run.failed else "invalid"
            detail = run.problem_summary()
            lines.append(f"- {workload} {case}, {TARGET_NAMES.get(target, target)}: {kind}: {detail}")
    else:
        lines.append("None: every run completed and passed its checks.")
    if results.reruns:
        lines += [
            "",
            "Re-run cases (the last run is the one shown; earlier outcomes listed):",
            "",
        ]
        for (workload, case, target), outcomes in results.reruns.items():
            lines.append(
                f"- {workload} {case}, {TARGET_NAMES.get(target, target)}: earlier {', '.join(outcomes)}"
            )
    lines += ["", "### Plots", ""]
    lines += write_plots(results, plots, doc)
    lines += ["### How to reproduce", "", REPRODUCE, END]
    return "\n".join(lines) + "\n"


def splice(document: str, section: str) -> str:
    """Replaces the marked section, or inserts it (with the hand-written placeholder) below
    the title."""
    if BEGIN in document and END in document:
        before = document[: document.index(BEGIN)]
        after = document[document.index(END) + len(END) :]
        return before + section.rstrip("\n") + after
    lines = document.splitlines(keepends=True)
    title_end = 1 if lines and lines[0].startswith("# ") else 0
    head = "".join(lines[:title_end])
    tail = "".join(lines[title_end:]).lstrip("\n")
    return head + "\n" + section + "\n" + PLACEHOLDER + "\n" + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a bench/results/<timestamp> directory")
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--doc", type=Path, default=root / "docs" / "benchmarks.md")
    parser.add_argument("--plots", type=Path, default=root / "docs" / "benchmarks")
    arguments = parser.parse_args()
    results_dir = arguments.results.resolve()
    doc = arguments.doc.resolve()
    results = load_results(results_dir)
    section = render_section(results, results_dir, doc, arguments.plots.resolve())
    document = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.write_text(splice(document, section))
    print(f"report.py: wrote {doc} from {results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
