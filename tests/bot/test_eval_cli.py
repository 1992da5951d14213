"""`python -m bot eval FILE.jsonl`: the table, the JSON object and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "tests" / "data" / "eval" / "dev.jsonl"
FIELDS = ("categories", "places", "temps_c")


def test_json_is_one_object_with_every_slice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DEV), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON document
    for key in ("all", "en", "uk", "ru"):
        for field in FIELDS:
            scores = report[key][field]
            assert set(scores) >= {"p", "r", "f1"}
            assert all(0.0 <= scores[s] <= 1.0 for s in ("p", "r", "f1"))
        assert set(report[key]["affected"]) >= {"accuracy", "n"}
    assert report["all"]["items"] == 353
    assert report["en"]["items"] + report["uk"]["items"] + report["ru"]["items"] == 353
    assert set(report["per_category"]) == {
        "power_outage",
        "heating_outage",
        "water_outage",
        "cold",
        "energy_attack",
        "restoration",
    }
    assert report["all"]["categories"]["f1"] >= 0.90


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DEV)]) == 0
    out = capsys.readouterr().out
    for word in ("categories", "places", "temps_c", "affected", "power_outage", "uk", "ru"):
        assert word in out


def test_misses_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.jsonl"
    wrong = {
        "id": "t1",
        "lang": "en",
        "title": "Half of Kyiv is without power",
        "text": "",
        "labels": {"categories": ["cold"], "temps_c": [-5.0], "places": [], "affected": 7},
    }
    path.write_text(json.dumps(wrong) + "\n", encoding="utf-8")
    assert main(["eval", str(path), "--misses"]) == 0
    out = capsys.readouterr().out
    assert "t1" in out and "categories" in out and "temps_c" in out and "affected" in out


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        pytest.param("{not json", "line 2", id="not-json"),
        pytest.param("[1, 2]", "line 2", id="not-an-object"),
        pytest.param('{"id": "x", "title": "t"}', "line 2", id="no-labels"),
        pytest.param(
            '{"title": "t", "labels": {"categories": [], "temps_c": ["warm"], "places": []}}',
            "line 2",
            id="bad-temperature",
        ),
    ],
)
def test_malformed_line_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second_line: str, message: str
) -> None:
    first = DEV.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "bad.jsonl"
    path.write_text(first + "\n" + second_line + "\n", encoding="utf-8")
    assert main(["eval", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_runs_as_a_module_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\xff\xfe not utf-8\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "eval", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "UTF-8" in result.stderr
