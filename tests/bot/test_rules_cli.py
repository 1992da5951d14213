"""`python -m bot rules parse|test`: canonical text and JSON, errors (exit 2), feeds and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bot.cli import main
from rules.rule import Rule

ROOT = Path(__file__).resolve().parents[2]
FEED = ROOT / "tests" / "data" / "rules" / "uk_energy_items_2024-11-13.xml"


def rules(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["rules", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_parse_prints_canonical_text_in_both_languages_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = rules(capsys, "parse", "мороз -15 Київ дайджест")
    assert (status, err) == (0, "")
    en, uk, data = out.splitlines()
    assert en == "en: temperature <= -15 in Kyiv digest"
    assert uk == "uk: температура <= -15 — Київ дайджест"
    rule = Rule.from_json(json.loads(data))
    assert rule.places == {"UA80"}
    assert rule.max_temp_c == -15
    assert rule.delivery == "digest"


def test_parse_error_says_where_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = rules(capsys, "parse", "power outage in Kiyv")
    assert (status, out) == (2, "")
    lines = err.splitlines()
    assert lines[0].startswith("error: Unknown place 'Kiyv' — did you mean Kyiv")
    assert lines[1] == "  power outage in Kiyv"
    assert lines[2] == "  " + " " * 16 + "^^^^"


def test_parse_error_in_ukrainian(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = rules(capsys, "parse", "мороз", "--lang", "uk")
    assert status == 0  # "мороз" alone is the cold category
    status, _, err = rules(capsys, "parse", "температура", "--lang", "uk")
    assert status == 2
    assert err.startswith("error: Для температури потрібне число")


def test_test_shows_which_items_match_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = rules(capsys, "test", '"Укренерго"', str(FEED))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == 'rule: "Укренерго"'
    assert out.rstrip().endswith("2 of 8 items match")
    assert out.count("MATCH ") == 2
    assert out.count('+ mentions "Укренерго"') == 2
    assert out.count('- mentions "Укренерго"') == 6


def test_test_json_and_only_matched(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = rules(capsys, "test", "from RBC-Ukraine", str(FEED), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert len(records) == 8
    assert all(r["matched"] for r in records)
    assert records[0]["conditions"] == [
        {"condition": "from RBC-Ukraine (story: RBC-Ukraine)", "held": True}
    ]
    status, out, _ = rules(capsys, "test", "not from RBC-Ukraine", str(FEED), "--matched")
    assert status == 0
    assert "MATCH" not in out
    assert out.rstrip().endswith("0 of 8 items match")


def test_test_reads_urls_from_a_real_local_server(
    capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED.read_bytes(), content_type="application/rss+xml"
    )
    url = httpserver.url_for("/feed.xml")
    status, out, err = rules(capsys, "test", '"Укренерго"', url, "--allow-private", "--json")
    assert (status, err) == (0, "")
    assert sum(json.loads(line)["matched"] for line in out.splitlines()) == 2


def test_test_bad_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = rules(capsys, "test", "power", str(tmp_path / "missing.xml"))
    assert status == 1
    assert "file not found" in err
    status, _, err = rules(capsys, "test", "power in Kiyv", str(FEED))
    assert status == 2
    assert "Unknown place 'Kiyv'" in err


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "rules", "parse", "outage affected >= 10k"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "en: outage affected >= 10000"
