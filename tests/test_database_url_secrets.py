"""A mistyped database URL never shows its password: not in a traceback, not in an error line.

Each command runs as a user runs it (a subprocess, the URL in the environment, as the README
says), with a log file; the password must appear nowhere in what it prints or logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Sup3r-secret-pw"

#: Typos a user makes: no "//" after the scheme, a lost ":", a bad port, keyword form.
MISTYPED = [
    f"postgresql//archiver:{PASSWORD}@db.example/archive",
    f"postgresql:/archiver:{PASSWORD}@db.example/archive",
    f"postgresql://archiver:{PASSWORD}@db.example:54x/archive",
    f"host=db.example password={PASSWORD} port=5432 dbname=archive sslmode=nonsense",
]

COMMANDS = {
    "crawl": ["crawl", "naenara"],
    "dbmigrate": ["dbmigrate"],
    "export": ["export"],
}


@pytest.mark.parametrize("url", MISTYPED)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_mistyped_database_url_never_prints_its_password(tmp_path, command, url):
    log = tmp_path / "scrapy.log"
    env = {**os.environ, "NEWSARCHIVE_DATABASE_URL": url}
    env["NEWSARCHIVE_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", *COMMANDS[command], "-s", f"LOG_FILE={log}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = output.splitlines()
    assert len(lines) == 1, output  # one line, never a traceback
    assert lines[0].startswith(f"scrapy {command}: error: "), output
    assert PASSWORD not in output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in written:
        assert PASSWORD not in path.read_text(errors="replace"), path
