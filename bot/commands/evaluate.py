"""`python -m bot eval FILE.jsonl [--json] [--misses]`: score the fact extractor on labelled
items (the scores of `feeds.evaluation`), as a table or as one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from feeds.evaluation import LANGUAGES, EvalDataError, LabelledItem, Miss, evaluate, read_labelled
from feeds.extract import extract_text
from feeds.models import Signals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="labelled items, one JSON object per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--misses", action="store_true", help="also list every item where a field is wrong"
    )
    parser.add_argument(
        "--gold-language",
        action="store_true",
        help="pass each item's labelled language to the extractor instead of detecting it",
    )


def _extractor(use_gold_language: bool) -> Any:
    def run(item: LabelledItem) -> Signals:
        hint = item.lang if use_gold_language else None
        return extract_text(item.title, item.text, language=hint)

    return run


def _table(report: dict[str, Any]) -> str:
    slices = ["all", *LANGUAGES]
    head = f"{'field':<22}" + "".join(f"{s:>22}" for s in slices)
    lines = [head, "-" * len(head)]
    lines.append(f"{'items':<22}" + "".join(f"{report[s]['items']:>22}" for s in slices))
    for name in ("categories", "places", "temps_c"):
        cells = []
        for s in slices:
            sc = report[s][name]
            cells.append(f"P {sc['p']:.2f} R {sc['r']:.2f} F1 {sc['f1']:.2f}")
        lines.append(f"{name:<22}" + "".join(f"{c:>22}" for c in cells))
    cells = [
        f"acc {report[s]['affected']['accuracy']:.2f} (n={report[s]['affected']['n']})"
        for s in slices
    ]
    lines.append(f"{'affected':<22}" + "".join(f"{c:>22}" for c in cells))
    cells = [f"acc {report[s]['language']['accuracy']:.2f}" for s in slices]
    lines.append(f"{'language':<22}" + "".join(f"{c:>22}" for c in cells))
    lines.append("")
    lines.append("per category (all languages)")
    for name, sc in report["all"]["per_category"].items():
        lines.append(f"  {name:<20}P {sc['p']:.2f}  R {sc['r']:.2f}  F1 {sc['f1']:.2f}")
    return "\n".join(lines)


def _miss_line(miss: Miss) -> str:
    return f"{miss.id:<8} {miss.lang:<3} {miss.field:<11} gold={miss.expected} got={miss.predicted}"


def run(args: argparse.Namespace) -> int:
    try:
        report, misses = evaluate(read_labelled(args.file), _extractor(args.gold_language))
    except EvalDataError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {**report, "per_category": report["all"]["per_category"]}
        if args.misses:
            out["misses"] = [_as_dict(miss) for miss in misses]
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(_table(report))
    if args.misses:
        print("\nmisses")
        for miss in misses:
            print(_miss_line(miss))
    return 0


def _as_dict(miss: Miss) -> dict[str, Any]:
    return {
        "id": miss.id,
        "lang": miss.lang,
        "field": miss.field,
        "expected": miss.expected,
        "predicted": miss.predicted,
    }
