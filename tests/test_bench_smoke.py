"""Small runs of the benchmark scripts, so that they keep working between real runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The scripts start their own servers on their own SQLite files, whatever the suite's
# database: they run once (in whichever pass balances the two, tests/conftest.py).
pytestmark = pytest.mark.balance_to_postgres


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_enrol_burst_smoke() -> None:
    out = run("bench/enrol_burst.py", "--total", "40", "--connections", "5")
    row = next(line for line in out.splitlines() if line.startswith("| enrolment"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "40" and cells[2] == "0" and cells[-1] == "40", row


@pytest.mark.e2e
def test_outbox_flush_smoke() -> None:
    out = run("bench/outbox_flush.py", "--items", "20")
    assert "20 items in" in out and "all stored exactly once" in out


def test_sync_batch_smoke() -> None:
    out = run("bench/sync_batch.py", "--items", "200", "--connections", "2", "--batch", "50")
    rows = [line for line in out.splitlines() if line.startswith("| /requests/sync")]
    assert len(rows) == 2, out
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == "0" and cells[2] == cells[4], row  # no errors, all stored


def test_profile_smoke() -> None:
    out = run("bench/profile.py", "sync", "--n", "2")
    assert "file_requests" in out, out[-2000:]


def test_care_pages_smoke() -> None:
    out = run("bench/care_pages.py", "--others", "100", "--runs", "2")
    assert "cadre's list (100 members): median" in out
    assert "chair's table (50 cadres, 5,000 members): median" in out
