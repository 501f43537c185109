"""``rules eval`` output: the report as text for a rule author, or as JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rules.metrics import EvalLine, EvalReport
from rules.scores import NEUTRAL, NOTHING

__all__ = ["format_report", "report_json"]

Files = Sequence[tuple[str, EvalReport]]


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.2f} ({part}/{whole})" if whole else f"n/a (0/{whole})"


def _figure(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def _headline(report: EvalReport) -> list[str]:
    fired = report.true_pos + report.false_pos
    wanted = report.true_pos + report.false_neg
    return [
        f"items: {report.items}",
        f"breaks/reverses: precision {_pct(report.true_pos, fired)}, "
        f"recall {_pct(report.true_pos, wanted)}",
        f"leg accuracy (non-neutral items, top signal): {_pct(report.leg_right, report.leg_total)}",
        f"right leg on hits (the labelled leg broke): "
        f"{_pct(report.hits_leg_right, report.true_pos)}",
        f"ticker recall (non-neutral items, unhedged signals): "
        f"{_pct(report.tickers_found, report.tickers_total)}"
        + (
            f"; not in the thesis: {', '.join(report.tickers_outside)}"
            if report.tickers_outside
            else ""
        ),
        f"tickers on hits (labelled tickers the unhedged breaks name): "
        f"{_pct(report.hits_tickers_found, report.hits_tickers_total)}",
        f"distractors/near-misses firing a break: {len(report.trap_fires)} "
        f"({report.traps_per_100:.1f} per 100 items)",
    ]


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _files(files: Files) -> list[str]:
    rows = [["file", "items", "precision", "recall", "traps fired"]]
    for name, r in files:
        rows.append(
            [
                name,
                str(r.items),
                _pct(r.true_pos, r.true_pos + r.false_pos),
                _pct(r.true_pos, r.true_pos + r.false_neg),
                str(len(r.trap_fires)),
            ]
        )
    return ["per file:", *_table(rows)]


def _legs(report: EvalReport) -> list[str]:
    rows = [["leg", "precision", "recall"]]
    for s in report.legs:
        rows.append(
            [
                s.leg,
                _pct(s.true_pos, s.true_pos + s.false_pos),
                _pct(s.true_pos, s.true_pos + s.false_neg),
            ]
        )
    title = "per leg (breaks/reverses, item by item; a package deal counts on each leg):"
    return [title, *_table(rows)]


def _confusion(report: EvalReport) -> list[str]:
    cells = {(row, col): n for row, col, n in report.confusion}
    legs = [s.leg for s in report.legs]
    rows_seen = {row for row, _, _ in report.confusion}
    rows = [r for r in legs if r in rows_seen] + [
        r for r in sorted(rows_seen) if r not in legs and r != NEUTRAL
    ]
    rows += [NEUTRAL] if NEUTRAL in rows_seen else []
    cols_seen = {col for _, col, _ in report.confusion}
    cols = [c for c in legs if c in cols_seen] + [
        c for c in sorted(cols_seen) if c not in legs and c != NOTHING
    ]
    cols += [NOTHING] if NOTHING in cols_seen else []
    table = [["labelled \\ top signal", *cols]]
    for row in rows:
        table.append([row, *(str(cells.get((row, col), 0) or ".") for col in cols)])
    return ["leg confusion (rows: labelled leg; columns: leg of the top signal):", *_table(table)]


def _rules(report: EvalReport) -> list[str]:
    rows = [["rule", "leg", "effect", "fired", "right", "precision", "recall", "hedged", "traps"]]
    wrong: list[str] = []
    for s in report.rules:
        rows.append(
            [
                s.rule_id,
                s.leg,
                s.effect,
                str(s.fired),
                str(s.right),
                _figure(s.precision),
                _pct(s.right, s.labelled),
                str(s.hedged),
                str(s.traps),
            ]
        )
        if s.wrong:
            shown = ", ".join(s.wrong[:6]) + (", ..." if len(s.wrong) > 6 else "")
            wrong.append(f"  {s.rule_id}: {shown}")
    return [
        "per rule (unhedged signals; recall: share of the items labelled with its leg and "
        "effect that it fires on; noisiest first):",
        *_table(rows),
        *(["wrong fires by rule:", *wrong] if wrong else []),
    ]


def _misses(report: EvalReport) -> list[str]:
    total = sum(len(g.lines) for g in report.miss_groups)
    out = [
        f"misses by the rule that should have fired (a labelled break that did not fire): {total}"
    ]
    for group in report.miss_groups:
        name = group.rule_id or f"(no rule of {group.leg} came near)"
        out.append(f"  {name} [{group.leg}]: {len(group.lines)}")
        for line in group.lines:
            out.append(f"    [{line.key}] {line.title}")
            out.append(f"        {line.reason}; got {line.got}")
            if group.rule_id is None:
                out.append(f"        vocabularies: {', '.join(line.vocabularies) or 'none'}")
    return out


def _section(title: str, lines: tuple[EvalLine, ...]) -> list[str]:
    out = [f"{title}: {len(lines)}"]
    for line in lines:
        out.append(f"  [{line.key}] {line.title}")
        out.append(f"      expected {line.expected}; got {line.got}")
    return out


def format_report(report: EvalReport, files: Files = ()) -> str:
    """The human-readable report ``rules eval`` prints (``files``: one report per input)."""
    out = _headline(report)
    if len(files) > 1:
        out += _files(files)
    out += _legs(report) + _confusion(report) + _rules(report) + _misses(report)
    out += _section("false alarms", report.false_alarms)
    out += _section("traps that fired", report.trap_fires)
    out += _section("hedged breaks (not counted as fired)", report.hedged)
    out += _section("wrong or missing leg", report.leg_errors)
    return "\n".join(out)


def _score(part: int, whole: int) -> dict[str, Any]:
    return {"value": part / whole if whole else None, "of": part, "total": whole}


def _summary(r: EvalReport) -> dict[str, Any]:
    return {
        "items": r.items,
        "precision": _score(r.true_pos, r.true_pos + r.false_pos),
        "recall": _score(r.true_pos, r.true_pos + r.false_neg),
        "leg_accuracy": _score(r.leg_right, r.leg_total),
        "hits_leg_accuracy": _score(r.hits_leg_right, r.true_pos),
        "ticker_recall": _score(r.tickers_found, r.tickers_total),
        "hits_ticker_recall": _score(r.hits_tickers_found, r.hits_tickers_total),
        "traps_fired": len(r.trap_fires),
        "traps_per_100": r.traps_per_100,
    }


def _lines(lines: tuple[EvalLine, ...]) -> list[dict[str, str]]:
    return [
        {"id": x.key, "title": x.title, "expected": x.expected, "got": x.got, "note": x.note}
        for x in lines
    ]


def report_json(report: EvalReport, files: Files = ()) -> dict[str, Any]:
    """The report as plain JSON values (ratios are null when nothing was counted)."""
    return {
        **_summary(report),
        "tickers_outside": list(report.tickers_outside),
        "files": {name: _summary(r) for name, r in files},
        "legs": {
            s.leg: {
                "precision": _score(s.true_pos, s.true_pos + s.false_pos),
                "recall": _score(s.true_pos, s.true_pos + s.false_neg),
            }
            for s in report.legs
        },
        "confusion": [
            {"labelled": row, "top": col, "items": n} for row, col, n in report.confusion
        ],
        "rules": {
            s.rule_id: {
                "leg": s.leg,
                "effect": s.effect,
                "fired": s.fired,
                "right": s.right,
                "precision": s.precision,
                "recall": _score(s.right, s.labelled),
                "hedged": s.hedged,
                "traps": s.traps,
                "wrong": list(s.wrong),
            }
            for s in report.rules
        },
        "misses": [
            {
                "leg": g.leg,
                "rule": g.rule_id,
                "items": [
                    {
                        "id": m.key,
                        "title": m.title,
                        "reason": m.reason,
                        "got": m.got,
                        "vocabularies": list(m.vocabularies),
                    }
                    for m in g.lines
                ],
            }
            for g in report.miss_groups
        ],
        "false_alarms": _lines(report.false_alarms),
        "trap_fires": _lines(report.trap_fires),
        "hedged": _lines(report.hedged),
        "leg_errors": _lines(report.leg_errors),
    }
