"""Benchmark the fact extractor: items per second through `feeds.extract.extract` over a
corpus of real items, and the import time of `feeds.extract` in a fresh interpreter.

    python bench/extract.py [--corpus DIR] [--repeat N] [--json]

A dev tool: by default it reads the shared corpus (`../shared/data/corpus`), which product
code never does.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.models import Item  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "corpus"
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _item(n: int, title: str, summary: str) -> Item:
    return Item(key=str(n), title=title, summary=summary, link=None, published=_EPOCH)


def load_corpus(directory: Path) -> list[Item]:
    """Every item of the corpus files (`*.jsonl`: title/description; `*.csv`: title/text)."""
    items: list[Item] = []
    csv.field_size_limit(sys.maxsize)
    for path in sorted(directory.iterdir()):
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        row = json.loads(line)
                        summary = (
                            row.get("description_text")
                            or row.get("description")
                            or row.get("text")
                            or ""
                        )
                        items.append(_item(len(items), row.get("title") or "", summary))
        elif path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    items.append(_item(len(items), row.get("title") or "", row.get("text") or ""))
    return items


def import_seconds(repeat: int) -> float:
    """Median wall time of `import feeds.extract` in a fresh interpreter."""
    code = (
        "import time; t = time.perf_counter(); import feeds.extract; print(time.perf_counter() - t)"
    )
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        runs.append(float(out.stdout.strip()))
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the corpus")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    if not args.corpus.is_dir():
        print(f"bench: no corpus directory at {args.corpus}", file=sys.stderr)
        return 2
    items = load_corpus(args.corpus)
    if not items:
        print(f"bench: no items in {args.corpus}", file=sys.stderr)
        return 2
    import_s = import_seconds(3)

    from feeds.extract import extract

    # First pass: warm-up (lazy data such as the gazetteer loads here), timed on its own.
    t0 = time.perf_counter()
    extract(items[0])
    first_call_s = time.perf_counter() - t0
    for item in items:
        extract(item)
    passes = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        for item in items:
            extract(item)
        passes.append(time.perf_counter() - t0)
    best = min(passes)
    chars = sum(len(i.title) + len(i.summary) for i in items)
    result: dict[str, Any] = {
        "items": len(items),
        "mean_chars_per_item": round(chars / len(items)),
        "items_per_s": round(len(items) / best),
        "items_per_s_median": round(len(items) / statistics.median(passes)),
        "us_per_item": round(best / len(items) * 1e6, 1),
        "first_call_s": round(first_call_s, 3),
        "import_s": round(import_s, 3),
        "targets": {"items_per_s": 2000, "import_s": 0.5},
    }
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
