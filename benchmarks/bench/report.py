"""The report: tables on the console and in Markdown, the JSON, and the plot."""

from __future__ import annotations

import json
import math
import statistics
from typing import TYPE_CHECKING, Any

from bench.scenarios import PLOTTED

if TYPE_CHECKING:
    from pathlib import Path

#: The baselines every figure is compared with: (column suffix, system name).
BASELINES = (("limit", "limit"), ("channels", "channels"))
COLUMNS = [
    "system",
    "server",
    "N",
    "p50 ms",
    "p99 ms",
    "max ms",
    "CPU µs/dlv",
    "RSS KiB/sub",
    "delivered",
    "CPU /limit",
    "CPU /channels",
    "p99 /limit",
    "p99 /channels",
]


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per (system, server, N, scenario, GC setting, round), with its ratios.

    A row measured with the run's second GC setting (``--tuned-gc``) is
    ``tuned``, labelled with it, and compared with the baselines measured with
    it; a row of a later round (``--rounds``), with those of its round.
    """
    flat = []
    run_gc = results["config"].get("gc_threshold")
    for record in results["measurements"]:
        base = {k: record.get(k) for k in ("system", "server", "n", "rss_per_subscriber", "error")}
        gc = record.get("gc_threshold", run_gc)
        base["gc"], base["tuned"] = gc, gc != run_gc
        base["label"] = f"{record['system']}, GC {gc}" if base["tuned"] else record["system"]
        base["round"] = record.get("round", 1)
        if base["round"] > 1:
            base["label"] += f", round {base['round']}"
        if not record["scenarios"]:
            flat.append({**base, "scenario": None})
        for scenario in record["scenarios"]:
            flat.append({**base, **scenario})
    index = {
        (r["system"], r["server"], r["n"], r["scenario"], r["gc"], r["round"]): r for r in flat
    }
    for row in flat:
        for suffix, name in BASELINES:
            key = (name, row["server"], row["n"], row["scenario"], row["gc"], row["round"])
            baseline = index.get(key, {})
            for figure, key in (("cpu", "cpu_us_per_delivery"), ("p99", "p99_ms")):
                row[f"{figure}_x_{suffix}"] = ratio(row.get(key), baseline.get(key))
    return flat


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def number(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def cells(row: dict[str, Any]) -> list[str]:
    """A table row's cells, in COLUMNS order."""
    if row.get("scenario") is None:
        return [row["label"], row["server"], str(row["n"]), f"FAILED: {row['error']}"[:60]]
    rss = row.get("rss_per_subscriber")
    delivered = f"{row['delivered']}/{row['expected']}"
    if row["outcome"] == "skipped":
        delivered = "skipped: server busy"
    if row["lost"]:
        delivered += f" LOST {row['lost']}"
        if row["outcome"] != "complete":
            delivered += f" ({row['outcome']})"
    return [
        row["label"],
        row["server"],
        str(row["n"]),
        number(row["p50_ms"]),
        number(row["p99_ms"]),
        number(row["max_ms"]),
        number(row["cpu_us_per_delivery"]),
        number(None if rss is None else rss / 1024),
        delivered,
        times(row["cpu_x_limit"]),
        times(row["cpu_x_channels"]),
        times(row["p99_x_limit"]),
        times(row["p99_x_channels"]),
    ]


def scenario_tables(results: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """(title, rows of cells) per scenario, in the order the scenarios ran."""
    flat = rows(results)
    tables = []
    for scenario in results["config"]["scenarios"]:
        title = f"{scenario['name']}: {scenario['count']} broadcasts" + (
            f" at {scenario['rate']:g}/s" if scenario["rate"] else " as fast as possible"
        )
        # Results written before the POST scenarios existed have no "post".
        if scenario.get("post"):
            title += ", each saved by a POST to a view of the server under test"
        chosen = [r for r in flat if r["scenario"] in (scenario["name"], None)]
        tables.append((title, [cells(r) for r in chosen]))
    return tables


ROUND_COLUMNS = ["server", "N", "scenario", "CPU /limit", "median", "p99 /limit", "median"]


def round_rows(results: dict[str, Any]) -> list[list[str]]:
    """turbo / limit in each round (``--rounds``) and their median, per server and scenario."""
    if results["config"].get("rounds", 1) < 2:
        return []
    run_gc = results["config"].get("gc_threshold")
    body = []
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for row in rows(results):
        if row["system"] == "turbo" and row["gc"] == run_gc and row["scenario"] is not None:
            groups.setdefault((row["server"], row["n"], row["scenario"]), []).append(row)
    for (server, n, scenario), found in groups.items():
        if len(found) < 2:
            continue  # N below the largest: measured once
        found.sort(key=lambda r: r["round"])
        line = [server, str(n), scenario]
        for figure in ("cpu_x_limit", "p99_x_limit"):
            values = [r[figure] for r in found if r[figure] is not None]
            line.append(" / ".join(times(v) for v in values) or "-")
            line.append(times(statistics.median(values)) if values else "-")
        body.append(line)
    return body


def rounds_title(results: dict[str, Any]) -> str:
    return (
        f"turbo / limit in each of {results['config']['rounds']} rounds (the limit and turbo "
        f"measured in turn at the largest N), and the median"
    )


#: The save-cost cases, as ``systems/turbo/savecost.py`` names them, in the table's order.
SAVE_CASES = ["unwatched", "watched", "unwatched, no history", "watched, no history"]


def savecost_rows(results: dict[str, Any]) -> list[list[str]]:
    """Rows of the save-cost table: layer, operation, µs plain, then µs and ratio per case."""
    table = []
    names = {"create_us": "create()", "atomic_us": "create() in one transaction"}
    for run in results.get("savecost", []):
        if "error" in run:
            table.append([run.get("layer", "?"), f"FAILED: {run['error']}"[:60]] + [""] * 5)
            continue
        for key, name in names.items():
            plain = run[key]["plain"]
            table.append(
                [run["layer"], name, f"{plain:.1f}"]
                + [f"{run[key][case]:.1f} ({run[key][case] / plain:.2f}x)" for case in SAVE_CASES]
            )
        for key, name in {"list_us": "list(all()) per row", "iterate_us": "iterate + attr"}.items():
            plain, stream = run[key]["plain"], run[key]["stream"]
            table.append(
                [run["layer"], name, f"{plain:.2f}", f"{stream:.2f} ({stream / plain:.2f}x)"]
                + [""] * 3
            )
    return table


SCALE_COLUMNS = [
    "system",
    "server",
    "N",
    "phase",
    "connected",
    "delivered",
    "p50 ms",
    "p99 ms",
    "server CPU µs/dlv",
    "RSS KiB/sub",
    "clients CPU s",
    "balancer CPU s",
    "recovery",
]


def scale_rows(results: dict[str, Any]) -> list[list[str]]:
    """Rows of the scale table: one per phase of each N tried (the ladder, top first)."""
    table = []
    for scaled in results.get("scale", []):
        for attempt in scaled["attempts"]:
            n = str(attempt["n"]) + ("" if attempt["survived"] else " (not held)")
            head = [scaled["system"], scaled["server"], n]
            if not attempt["phases"]:
                failure = attempt["error"] or "no phase ran"
                table.append([*head, f"FAILED: {failure.splitlines()[0]}"[:80]])
                continue
            for phase in attempt["phases"]:
                delivered = f"{phase['delivered']}/{phase['expected']}"
                if phase["lost"]:
                    delivered += f" LOST {phase['lost']}"
                table.append(
                    [
                        *head,
                        phase["phase"],
                        f"{attempt['connected']}/{attempt['n']}",
                        delivered,
                        number(phase["p50_ms"]),
                        number(phase["p99_ms"]),
                        number(phase["cpu_us_per_delivery"]),
                        number(attempt.get("rss_per_subscriber", 0) / 1024),
                        number(phase["client_cpu_s"]),
                        number(phase["balancer_cpu_s"]),
                        recovery_cell(phase),
                    ]
                )
    return table


def recovery_cell(phase: dict[str, Any]) -> str:
    """The kill phase's recovery: the slowest client's, against the bound."""
    if phase["phase"] != "kill":
        return ""
    if phase.get("killed_at") is None:
        return "not killed"
    worst = phase["recovery_max_s"]
    verdict = "ok" if phase["within_bound"] else "OVER"
    shown = "never" if worst is None else f"{worst:.2f} s"
    return (
        f"{phase['caught_up']}/{phase['dropped']} back, max {shown} "
        f"(p50 {phase['recovery_p50_s'] or 0:.2f}), bound {phase['bound_s']:g} s {verdict}"
    )


def scale_title(results: dict[str, Any]) -> str:
    config = results["config"]
    names = ", ".join(s["name"] for s in config.get("scale", []))
    return (
        f"{names}: two server processes behind {config.get('balancer')}, clients in "
        f"{config.get('client_procs')} processes, one save a second for a minute per phase"
    )


SAVECOST_COLUMNS = ["channel layer", "operation", "µs plain", *(f"µs {c}" for c in SAVE_CASES)]


def text_table(columns: list[str], body: list[list[str]]) -> str:
    """A fixed-width table for the console."""
    widths = [len(c) for c in columns]
    for line in body:
        for i, cell in enumerate(line[: len(columns)]):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for line in body:
        if len(line) < len(columns):  # a failure: its message spans the rest
            lines.append("  ".join(c.rjust(w) for c, w in zip(line[:-1], widths, strict=False)))
            lines[-1] += "  " + line[-1]
        else:
            lines.append("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    return "\n".join(lines)


def markdown_table(columns: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for line in body:
        padded = line + [""] * (len(columns) - len(line))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in padded) + " |")
    return "\n".join(lines)


def header_lines(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    lines = [
        f"Run of {results['date']} on {machine['cpu']} ({machine['cores']} cores, "
        f"{machine['memory_gib']:.0f} GiB), Linux {machine['kernel']}, "
        f"Python {machine['python']}; command: `{results['command']}`.",
        "",
    ]
    for name, system in results["systems"].items():
        versions = ", ".join(f"{k} {v}" for k, v in (system.get("versions") or {}).items())
        lines.append(
            f"- **{name}**: {system['description']}" + (f" ({versions})" if versions else "")
        )
    return lines


def print_report(results: dict[str, Any]) -> None:
    print()
    print("\n".join(header_lines(results)))
    for title, body in scenario_tables(results):
        print(f"\n{title}\n")
        print(text_table(COLUMNS, body))
    rounds = round_rows(results)
    if rounds:
        print(f"\n{rounds_title(results)}\n")
        print(text_table(ROUND_COLUMNS, rounds))
    scaled = scale_rows(results)
    if scaled:
        print(f"\n{scale_title(results)}\n")
        print(text_table(SCALE_COLUMNS, scaled))
    saves = savecost_rows(results)
    if saves:
        print("\nThe cost of a ModelStream without subscribers (best of repeats)\n")
        print(text_table(SAVECOST_COLUMNS, saves))
    for problem in results["problems"]:
        print(f"\n!!! {problem}")


def markdown(results: dict[str, Any]) -> str:
    """The whole report in Markdown, for the README."""
    parts = ["\n".join(header_lines(results))]
    for title, body in scenario_tables(results):
        parts.append(f"**{title}**\n\n{markdown_table(COLUMNS, body)}")
    rounds = round_rows(results)
    if rounds:
        parts.append(f"**{rounds_title(results)}**\n\n{markdown_table(ROUND_COLUMNS, rounds)}")
    scaled = scale_rows(results)
    if scaled:
        parts.append(f"**{scale_title(results)}**\n\n{markdown_table(SCALE_COLUMNS, scaled)}")
    saves = savecost_rows(results)
    if saves:
        savecost = results["savecost"][0]
        parts.append(
            f"**What a ModelStream costs a save** ({savecost.get('creates')} creates, "
            f"{savecost.get('rows')} rows, best of {savecost.get('repeats')}; the stream "
            f"watched by a page or by nobody, with the history on or off)\n\n"
            + markdown_table(SAVECOST_COLUMNS, saves)
        )
    if results["problems"]:
        parts.append("\n".join(f"- **{p}**" for p in results["problems"]))
    return "\n\n".join(parts) + "\n"


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")


def plot(results: dict[str, Any], path: Path) -> bool:
    """CPU per delivery and p99 latency against N, log-log, for the plotted scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    names = [s["name"] for s in results["config"]["scenarios"]]
    scenario = PLOTTED if PLOTTED in names else (names[0] if names else None)
    lines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows(results):
        if (
            row.get("scenario") == scenario
            and row.get("cpu_us_per_delivery")
            and not row["tuned"]
            and row["round"] == 1
        ):
            lines.setdefault((row["system"], row["server"]), []).append(row)
    if not lines:
        return False
    figure, (cpu_axes, p99_axes) = plt.subplots(1, 2, figsize=(12, 5))
    systems = list(results["systems"])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (system, server), points in sorted(lines.items(), key=lambda i: systems.index(i[0][0])):
        points.sort(key=lambda r: r["n"])
        style = {
            "color": colours[systems.index(system) % len(colours)],
            "linestyle": "-" if server == "daphne" else "--",
            "marker": "o" if server == "daphne" else "s",
            "label": f"{system} ({server})",
        }
        ns = [r["n"] for r in points]
        cpu_axes.plot(ns, [r["cpu_us_per_delivery"] for r in points], **style)
        p99_axes.plot(ns, [r["p99_ms"] for r in points], **style)
    every_n = sorted({r["n"] for points in lines.values() for r in points})
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for axes, label in ((cpu_axes, "server CPU µs per delivery"), (p99_axes, "p99 latency, ms")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        # Plain numbers: 10, 100, 1000 read better than 10^1, 10^2, 10^3.
        axes.set_xticks(every_n)
        axes.xaxis.set_major_formatter(plain)
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.yaxis.set_major_formatter(plain)
        axes.yaxis.set_minor_formatter(plain)
        axes.tick_params(axis="y", which="minor", labelsize="x-small")
        axes.set_xlabel("subscribers on the stream (N)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
    p99_axes.legend(fontsize="small")
    figure.suptitle(f"Fan-out, {scenario} ({results['date'][:10]}, {results['machine']['cpu']})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
