"""The audit log as a person reads it: words for codes, names with links, before → after,
filters by person, action and date, and a CSV of what is filtered."""

import csv
import io

import pytest
from django.urls import reverse

from reseller.core.audit import ACTION_GROUPS, ACTION_LABELS, action_label, describe_data
from reseller.core.models import AuditEvent
from reseller.core.services import audit_record


def test_every_recorded_action_has_words():
    """Every action code the product passes as `action=`, also the codes of a conditional
    (`"order.delivery_resent" if resend else "order.delivered"`), has its words."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    recorded = set()
    for path in root.glob("*/**/*.py"):
        if any(part in {".venv", "tests", "sandbox", "migrations"} for part in path.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.keyword) or node.arg != "action":
                continue
            recorded.update(
                each.value
                for each in ast.walk(node.value)
                if isinstance(each, ast.Constant)
                and isinstance(each.value, str)
                and re.fullmatch(r"[a-z_]+\.[a-z_]+", each.value)
            )
    assert {"order.delivered", "pricing_rule.created", "supplier_account.updated"} <= recorded
    assert recorded <= set(ACTION_LABELS), sorted(recorded - set(ACTION_LABELS))
    assert action_label("order.something_new") == "Order: something new"


def test_a_change_reads_as_before_and_after():
    changes, details = describe_data(
        {
            "before": {"role": "operator", "is_active": True},
            "after": {"role": "admin", "is_active": True},
        }
    )
    assert [(c.field, c.before, c.after) for c in changes] == [("role", "operator", "admin")]
    assert details == []
    created, _ = describe_data({"before": {"usd per unit": None}, "after": {"usd per unit": "0.5"}})
    assert [(c.before, c.after) for c in created] == [("—", "0.5")]
    _, facts = describe_data({"ok": True, "orders": [1, 2], "price": "5"})
    assert facts == [("ok", "yes"), ("orders", "1, 2"), ("price", "5")]


@pytest.fixture
def events(make_staff):
    admin = make_staff("admin", username="alice")
    bob = make_staff("operator", username="bob")
    from reseller.core.services import staff_update

    staff_update(user=bob, role="finance", is_active=True, by=admin)
    audit_record(action="auth.login", actor=bob)
    audit_record(action="auth.login", actor=admin)
    return admin, bob


def test_the_log_names_people_and_links_them(client_as, events):
    admin, bob = events
    page = client_as("admin").get(reverse("core:audit_list"))
    html = page.content.decode()
    html = html[html.index('<section id="results"') :]
    assert "staff.updated" not in html.replace('title="staff.updated"', "")
    assert "Staff member changed" in html and "{'" not in html
    staff_url = reverse("core:staff_detail", args=[bob.pk])
    assert f'<a href="{staff_url}">Staff member bob</a>' in html
    assert f'<a href="{reverse("core:staff_detail", args=[admin.pk])}">alice</a>' in html
    assert 'role: <span class="muted">operator</span> → <strong>finance</strong>' in html
    assert "auth.user #" not in html


def test_filters_by_person_action_and_date(client_as, events):
    client = client_as("admin")
    url = reverse("core:audit_list")

    def actions(**params):
        response = client.get(url, params)
        return [line.event.action for line in response.context["lines"]]

    assert set(actions(person="bob")) == {"auth.login"}
    assert actions(action="staff.updated") == ["staff.updated"]
    signing_in = set(actions(action="Sign-in"))
    assert "auth.login" in signing_in and signing_in <= set(ACTION_GROUPS["Sign-in"])
    assert actions(since="2999-01-01") == []
    assert "auth.login" in actions(until="2999-01-01")


def test_the_csv_is_the_filtered_log_in_words(client_as, events):
    response = client_as("admin").get(reverse("core:audit_export"), {"action": "staff.updated"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["what"] for row in rows] == ["Staff member changed"]
    assert rows[0]["who"] == "alice" and rows[0]["target"] == "Staff member bob"
    assert rows[0]["changes"] == "role: operator → finance"
    assert client_as("operator").get(reverse("core:audit_export")).status_code == 403
    assert AuditEvent.objects.count() >= 3
