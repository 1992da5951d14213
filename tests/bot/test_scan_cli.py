"""`python -m bot scan`: files and URLs (a real local server), table and JSON output, errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bot.cli import main
from bot.commands.scan import item_record
from feeds.extract import extract
from feeds.models import Item, Source
from feeds.parse import parse_feed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "winter-outages.xml"
UNIAN = ROOT / "tests" / "data" / "feeds" / "tehtehteh_stub_unian_rss.xml"
ITEM_FIELDS = {f.name for f in dataclasses.fields(Item)}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray `.env` or operator setting may change what the command does."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALLOW_PRIVATE_FEED_HOSTS", raising=False)


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["scan", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


# --- files ----------------------------------------------------------------------------------


def test_table_for_the_example_feed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = scan(capsys, str(EXAMPLE))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["source", "published", "(UTC)", "title", "facts"]
    assert "2026-01-13 05:40" in lines[1] and "У Києві до -18°C" in lines[1]
    assert lines[-1] == "6 items from 1 feed"
    assert sum("Зимовий вісник" in line for line in lines) == 6


def test_json_is_one_object_per_item(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = scan(capsys, str(EXAMPLE), "--json")
    assert status == 0 and err == ""
    records = json_lines(out)
    assert len(records) == 6
    for record in records:
        assert set(record) == ITEM_FIELDS | {"signals"}
        assert isinstance(record["signals"], dict)
        assert datetime.fromisoformat(str(record["published"])).utcoffset() is not None
    first = records[0]
    assert first["key"] == "id:winter-news-1001"
    assert first["link"] == "https://winter-news.example.org/news/kyiv-heating-1"
    assert first["source_name"] == "Зимовий вісник (приклад)"
    assert first["source_url"] == EXAMPLE.as_uri()
    assert first["language"] == "uk" and first["cap"] is None


def test_json_signals_are_the_extractors(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = scan(capsys, str(EXAMPLE), "--json")
    parsed = parse_feed(EXAMPLE.read_bytes(), source=Source(url=EXAMPLE.as_uri(), name="x"))
    expected = {item.key: item_record(item, extract(item))["signals"] for item in parsed.items}
    assert {r["key"]: r["signals"] for r in json_lines(out)} == expected


def test_limit_keeps_the_newest(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = scan(capsys, "--json", "--limit", "2", str(EXAMPLE))
    assert status == 0
    assert [r["key"] for r in json_lines(out)] == ["id:winter-news-1001", "id:winter-news-1002"]


def test_cap_fields_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    cap_file = ROOT / "tests" / "data" / "parse" / "meteoalarm-style-cap.atom.xml"
    _, out, _ = scan(capsys, "--json", str(cap_file))
    cap = json_lines(out)[0]["cap"]
    assert isinstance(cap, dict)
    assert cap["event"] == "Extreme low temperature"
    assert cap["effective"] == "2026-01-13T22:00:00+00:00"


def test_file_errors_are_one_line_each_and_other_feeds_still_print(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body><p>Hello</p></body></html>", encoding="utf-8")
    status, out, err = scan(capsys, "--json", "missing.xml", str(page), str(tmp_path), str(EXAMPLE))
    assert status == 1
    assert len(json_lines(out)) == 6
    lines = err.splitlines()
    assert lines[0] == "error: missing.xml: file not found"
    assert lines[1].startswith(f"error: {page}: not a feed")
    assert lines[2] == f"error: {tmp_path}: is a directory, not a feed file"
    assert "Traceback" not in err


def test_recovered_problems_are_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.xml"
    body = UNIAN.read_bytes()
    truncated.write_bytes(body[: len(body) // 2])
    status, out, err = scan(capsys, "--json", str(truncated))
    assert status == 0
    assert json_lines(out)
    assert err.startswith(f"warning: {truncated}: ")


@pytest.mark.parametrize(
    "args",
    [[], ["--limit", "0", "x.xml"], ["--limit", "many", "x.xml"], ["--bogus", "x.xml"]],
    ids=["no-input", "limit-zero", "limit-word", "unknown-option"],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scan", *args])
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_unsupported_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = scan(capsys, "ftp://example.org/feed.xml")
    assert status == 1
    assert err == (
        "error: ftp://example.org/feed.xml: "
        "only http:// and https:// URLs or local files can be read\n"
    )


# --- URLs (a real local server) -------------------------------------------------------------


def test_url_is_fetched_and_parsed(
    capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/unian.rss").respond_with_data(
        UNIAN.read_bytes(), content_type="application/rss+xml; charset=utf-8"
    )
    url = httpserver.url_for("/unian.rss")
    status, out, err = scan(capsys, "--json", "--allow-private", url)
    assert status == 0, err
    records = json_lines(out)
    assert len(records) == 50
    assert records[0]["source_name"] == "Інформаційне Агентство УНІАН"
    assert records[0]["source_url"] == url
    user_agent = httpserver.log[0][0].headers["User-Agent"]
    assert "bot" in user_agent.lower() or "alerts" in user_agent.lower()


def test_http_errors_and_html_pages(
    capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    httpserver.expect_request("/page").respond_with_data(
        "<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>",
        content_type="text/html",
    )
    httpserver.expect_request("/ok").respond_with_data(
        EXAMPLE.read_bytes(), content_type="application/rss+xml"
    )
    gone, page, ok = (httpserver.url_for(p) for p in ("/gone", "/page", "/ok"))
    status, out, err = scan(capsys, "--json", "--allow-private", gone, page, ok)
    assert status == 1
    assert len(json_lines(out)) == 6
    lines = err.splitlines()
    assert lines[0] == f"error: {gone}: feed not found (404)"
    assert lines[1].startswith(f"error: {page}: not a feed")
    assert len(lines) == 2 and "Traceback" not in err


def test_private_address_refused_without_the_flag(
    capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_data(EXAMPLE.read_bytes())
    url = httpserver.url_for("/feed")
    status, out, err = scan(capsys, url)
    assert status == 1
    assert err.startswith(f"error: {url}: refused non-public address")
    assert httpserver.log == []  # nothing was requested
    assert out.splitlines()[-1] == "0 items from 0 feeds"


# --- the real entry point -------------------------------------------------------------------


def test_python_m_bot_scan_runs_the_quick_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "scan", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "6 items from 1 feed" in done.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0 and "scan" in helped.stdout
