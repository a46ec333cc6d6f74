"""The process: the READY line, clean stop, restart keeping state, determinism, speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal

import requests

from sandbox.testing import ROOT, running_sandbox
from tests.sandbox.conftest import Partner, decode


def full_catalog(sandbox) -> bytes:
    account = sandbox.create_account()
    return requests.post(
        sandbox.url + "/api/v1/offers/sync",
        json={"limit": 5000},
        headers={"Authorization": account["token"]},
        timeout=30,
    ).content


def test_ready_line_and_clean_stop(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.sqlite3"),
            "--offers",
            "20",
            "--admin-key",
            "k",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("SANDBOX_READY http://127.0.0.1:")
        url = line.split()[1]
        assert requests.get(url + "/sandbox/health", timeout=5).json()["offers"] == 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert process.stdout.read() == ""  # exactly one line
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_restart_keeps_everything(tmp_path):
    state = tmp_path / "keep.sqlite3"
    with running_sandbox(tmp_path, offers=200, seed=5, admin_key="k", state=state) as sandbox:
        account = sandbox.create_account(balance=100)
        codegames = sandbox.create_account(balance=50, kind="codegames")
        partner = Partner(sandbox, account)
        order = partner.buy(999, "keep-1")
        offer = sandbox.admin("GET", "/sandbox/offers", params={"kind": "key", "limit": 1})
        offer_id = offer["offers"][0]["offerId"]
        sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"price": "77.70"})
        sandbox.admin("POST", "/sandbox/settings", {"topup_delay_seconds": 3})
        sandbox.admin(
            "POST", "/sandbox/faults", {"endpoint": "sync", "kind": "slow", "delay_seconds": 0.01}
        )
        catalog = full_catalog(sandbox)
        ledger = partner.ledger()
    with running_sandbox(tmp_path, offers=999, seed=6, admin_key="k", state=state) as sandbox:
        partner = Partner(sandbox, account)
        assert partner.status(orderId=order["orderId"])["status"] == "COMPLETED"
        assert partner.ledger() == ledger
        assert partner.balance()["balance"] == 100
        kept = sandbox.admin("GET", f"/sandbox/accounts/{codegames['token']}")
        assert kept["kind"] == "codegames" and kept["balance"] == 50
        assert partner.find_one(offer_id)["price"] == Decimal("77.70")
        assert sandbox.admin("GET", "/sandbox/settings")["topup_delay_seconds"] == 3
        assert len(sandbox.admin("GET", "/sandbox/faults")["faults"]) == 1
        assert full_catalog(sandbox) == catalog  # not regenerated with the new seed
        assert sandbox.admin("GET", "/sandbox/health")["seed"] == 5
        assert "reusing the catalog" in sandbox.stderr()


def test_same_seed_same_catalog(tmp_path):
    with running_sandbox(tmp_path / "a", offers=300, seed=11, admin_key="k") as one:
        first = full_catalog(one)
    with running_sandbox(tmp_path / "b", offers=300, seed=11, admin_key="k") as two:
        second = full_catalog(two)
    with running_sandbox(tmp_path / "c", offers=300, seed=12, admin_key="k") as three:
        third = full_catalog(three)
    assert first == second
    assert first != third
    rows = json.loads(first)["rows"]
    assert len(rows) == 300 and rows[0]["offerGroupId"] == 999


def test_demo_account_is_ensured_once(tmp_path):
    args = ["--demo-token", "demo-shop", "--demo-management-token", "demo-mgmt"]
    for _ in range(2):
        with running_sandbox(
            tmp_path, offers=20, admin_key="k", extra_args=args, state=tmp_path / "demo.sqlite3"
        ) as sandbox:
            partner = Partner(sandbox, {"token": "demo-shop", "management_token": "demo-mgmt"})
            balance = partner.balance()
            assert balance["balance"] == 10000 and balance["balanceProfile"] == "MIXED"
            assert balance["isPostpaid"] is False
            ledger = partner.ledger()
            assert ledger["total"] == 1 and ledger["transactions"][0]["type"] == "DEPOSIT"


def test_a_big_catalog_syncs_in_pages_and_a_reprice_moves_its_share(tmp_path):
    # How fast the pages come: tests/benchmarks/bench_supplier_sync_fetch.py (make bench).
    with running_sandbox(tmp_path, offers=12000, seed=42, admin_key="k") as sandbox:
        account = sandbox.create_account()
        session = requests.Session()
        headers = {"Authorization": account["token"]}

        def page(n: int) -> dict:
            response = session.post(
                sandbox.url + "/api/v1/offers/sync",
                json={"limit": 5000, "page": n},
                headers=headers,
                timeout=30,
            )
            assert response.status_code == 200
            return decode(response)

        pages = [page(n) for n in (1, 2, 3)]
        assert pages[0]["count"] == 12000
        assert sum(len(p["rows"]) for p in pages) == 12000
        changed = sandbox.admin("POST", "/sandbox/offers/reprice", {"share": 0.01, "pct": 5})
        assert changed["changed"] == 120
        fresh = page(1)
        before = {r["offerGroupId"]: r["price"] for r in pages[0]["rows"]}
        moved = {
            r["offerGroupId"] for r in fresh["rows"] if before[r["offerGroupId"]] != r["price"]
        }
        assert moved == {i for i in changed["offerIds"] if i in before}
        catalog_names = {r["productName"] for p in pages for r in p["rows"]}
        for expected in (
            "PUBG Mobile",
            "Mobile Legends",
            "Genshin Impact",
            "Free Fire",
            "Honkai: Star Rail",
            "Steam Wallet US",
            "PlayStation Network TR",
            "Xbox EU",
            "Google Play KZ",
            "App Store & iTunes RU",
            "Razer Gold US",
            "Nintendo eShop EU",
            "Telegram Stars",
            "Steam US",
        ):
            assert expected in catalog_names, expected
        currencies = {r["currency"] for p in pages for r in p["rows"]}
        assert currencies == {"USD", "EUR", "RUB", "KZT", "TRY"}
