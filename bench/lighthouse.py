"""Lighthouse (mobile) on the join page, the request form and the officer queue.

    npm install --prefix bench/.lighthouse lighthouse@12     # once (ignored by git)
    .venv/bin/python bench/lighthouse.py [--lighthouse /tmp/lh/node_modules/.bin/lighthouse]

Serves a scratch demo database, signs in a worker and a cadre to get their cookies, runs
Lighthouse with CHROME_PATH=/usr/bin/chromium and prints the three category scores per page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import LiveServer

FLAGS = ("--headless --no-sandbox --disable-gpu --disable-background-networking "
         "--disable-component-update --disable-sync")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cookie_after(client: httpx.Client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def audit(lighthouse: str, url: str, cookie: str, out: Path) -> dict[str, float]:
    headers = json.dumps({"Cookie": cookie}) if cookie else "{}"
    subprocess.run([lighthouse, url, "--quiet", f"--chrome-flags={FLAGS}", "--form-factor=mobile",
                    "--only-categories=performance,accessibility,best-practices",
                    f"--extra-headers={headers}", "--output=json", f"--output-path={out}"],
                   env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, check=True,
                   timeout=300)
    data = json.loads(out.read_text())
    return {k: round(v["score"] * 100) for k, v in data["categories"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lighthouse", default=str(
        Path(__file__).resolve().parent / ".lighthouse" / "node_modules" / ".bin" / "lighthouse"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-lh-"))
    server = LiveServer(f"sqlite://{workdir / 'lh.sqlite3'}", workdir)
    server.cli("demo")
    server.start()
    try:
        join_url = server.cli("invite", "xibailiang").strip()
        with httpx.Client() as worker:
            page = worker.get(join_url)
            worker.post(join_url, data={
                "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
                "client_id": str(uuid.uuid4()), "name": "测试工友", "phone": "13912345678",
                "trade": "木工", "consent": "on"})
            worker_cookie = cookie_after(worker)
        with httpx.Client(base_url=server.url) as cadre:
            page = cadre.get("/officer/login")
            cadre.post("/officer/login", data={
                "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
                "phone": "13900000011", "password": "lianxin-demo-2026"})
            cadre_cookie = cookie_after(cadre)
        pages = [("join page", join_url, ""),
                 ("request form", server.url + "/requests/new", worker_cookie),
                 ("officer queue", server.url + "/officer/requests", cadre_cookie)]
        print("| page | performance | accessibility | best practices |")
        print("| --- | --- | --- | --- |")
        for name, url, cookie in pages:
            scores = audit(args.lighthouse, url, cookie, workdir / f"{name}.json")
            print(f"| {name} | {scores['performance']} | {scores['accessibility']} | "
                  f"{scores['best-practices']} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
