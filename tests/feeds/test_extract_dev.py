"""Regression floors on the labelled dev set (`tests/data/eval/dev.jsonl`).

Measured with `python -m bot eval tests/data/eval/dev.jsonl --json`: categories micro-F1
0.94, temperatures F1 1.00, affected accuracy 0.97 (places are scored in the places tests).
The floors are the issue's targets, so a change that drops below them fails here.
"""

from __future__ import annotations

from pathlib import Path

from feeds.evaluation import evaluate, read_labelled
from feeds.extract import extract_text

DEV = Path(__file__).resolve().parents[1] / "data" / "eval" / "dev.jsonl"


def test_dev_set_meets_the_targets() -> None:
    report, _ = evaluate(
        read_labelled(DEV), lambda item: extract_text(item.title, item.text, language=None)
    )
    overall = report["all"]
    assert overall["items"] == 353
    assert overall["categories"]["f1"] >= 0.90
    assert overall["temps_c"]["f1"] >= 0.95
    assert overall["affected"]["accuracy"] >= 0.85
    assert overall["language"]["accuracy"] >= 0.97
    for lang in ("en", "uk", "ru"):
        assert report[lang]["categories"]["f1"] >= 0.85, lang
