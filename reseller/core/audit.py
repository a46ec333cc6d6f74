"""The audit log as a person reads it: each event's name in words, who did it and to what (by
name, with a link), and what changed as before → after.

Events are recorded with codes (`staff.updated`) and a small dict of facts by the services of
every app (`services.audit_record`); this module only words them. It names the other apps'
objects by their URL names and model labels, never by importing them (the core app is the
ground floor).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from reseller.core.models import AuditEvent

#: Every action code the back-office records, in words, grouped as the filter offers them.
ACTION_GROUPS: dict[str, dict[str, str]] = {
    "Sign-in": {
        "auth.login": "Signed in",
        "auth.login_failed": "Failed sign-in",
        "auth.logout": "Signed out",
        "auth.identity_confirmed": "Identity confirmed again",
        "auth.password_changed": "Password changed",
        "auth.session_expired": "Session expired",
        "auth.sessions_ended": "Sessions ended",
        "two_factor.enrolled": "Authenticator app set up",
        "two_factor.recovery_code_used": "Recovery code used",
        "two_factor.recovery_codes_renewed": "Recovery codes renewed",
        "two_factor.removed": "Authenticator app removed",
        "two_factor.reset": "Second factor reset by an admin",
    },
    "Staff": {
        "staff.created": "Staff member added",
        "staff.updated": "Staff member changed",
        "staff.password_reset": "Password reset",
    },
    "Supplier accounts": {
        "supplier_account.created": "Supplier account added",
        "supplier_account.updated": "Supplier account changed",
        "supplier_account.checked": "Connection tested",
        "telegram_marketplace.created": "Telegram marketplace added",
        "telegram_marketplace.updated": "Telegram marketplace changed",
        "telegram_marketplace.checked": "Telegram bot connection tested",
        "secrets.keys_rotated": "Encryption keys rotated",
    },
    "Catalog and pricing": {
        "pricing_rule.created": "Pricing rule added",
        "pricing_rule.updated": "Pricing rule changed",
        "pricing_rule.deleted": "Pricing rule deleted",
        "currency_rate.saved": "Currency rate set",
        "profile_change.dismissed": "Balance profile notice dismissed",
        "product.created": "Product added",
        "product.changed": "Product changed",
        "product.route_attached": "Offer attached to a product",
        "product.route_detached": "Offer detached from a product",
        "product.route_moved": "Product route moved in the preference order",
        "product.route_limit_set": "Product route price limit set",
        "product.route_dropped": "Offer dropped out of a product (delisted or changed)",
    },
    "Orders": {
        "order.created": "Order placed",
        "order.retried": "Order retried",
        "order.rerouted": "Order moved to the product's next route",
        "order.retry_refused": "Retry refused (price above the limit)",
        "order.rechecked": "Status checked with the supplier",
        "order.withdrawn": "Order withdrawn",
        "order.resolved": "Order marked resolved",
        "order.found_at_supplier": "Order found at the supplier",
        "order.late_purchase": "Late purchase found",
        "order.outcome_found": "Lost order recorded as found at the supplier",
        "order.outcome_not_bought": "Lost order recorded as not bought",
        "order.delivered": "Delivered to the customer by email",
        "order.delivery_resent": "Delivery sent again",
        "order.key_revealed": "Key revealed",
        "order.key_reveal_denied": "Key reveal refused",
        "order_queue.held": "Account queue put on hold",
        "order_queue.resumed": "Account queue resumed",
        "gift_report.retried": "Telegram report retried",
        "gift_report.sale_recorded": "Gift sale recorded for Telegram",
        "webhook_event.replayed": "Supplier webhook replayed",
    },
    "Batches": {
        "batch.uploaded": "Batch file uploaded",
        "batch.previewed": "Batch file read into a preview",
        "batch.refused": "Batch file refused",
        "batch.confirm_requested": "Batch confirmed",
        "batch.confirmed": "Batch orders created",
        "batch.confirm_failed": "Batch confirmation failed",
        "batch.discarded": "Batch preview discarded",
        "batch.paused": "Batch paused",
        "batch.resumed": "Batch resumed",
        "batch.failed_rows_retried": "Failed rows retried as a new batch",
        "batch.keys_exported": "Batch keys exported",
        "batch.keys_export_denied": "Batch keys export refused",
    },
    "Spend controls": {
        "spend_limit.changed": "Spending limit changed",
        "spend.approval_requested": "Approval asked for spending above the threshold",
        "spend.approved": "Spending approved",
        "spend.rejected": "Spending rejected",
    },
    "Finance": {
        "finance.alert_rule_saved": "Low-balance alert changed",
        "finance.balance_entered": "Balance entered by hand",
        "reconciliation.started": "Reconciliation started",
        "reconciliation.exported": "Reconciliation downloaded",
        "reconciliation.item_explained": "Reconciliation item explained",
    },
}
ACTION_LABELS = {code: label for group in ACTION_GROUPS.values() for code, label in group.items()}


def action_label(code: str) -> str:
    """The action in words; a code recorded by a newer part of the product reads as itself,
    made readable ("order.something_new" → "Order: something new")."""
    if code in ACTION_LABELS:
        return ACTION_LABELS[code]
    subject, _, verb = code.partition(".")
    return f"{subject.replace('_', ' ').capitalize()}: {verb.replace('_', ' ')}".rstrip(": ")


@dataclass(frozen=True)
class TargetKind:
    label: str
    url_name: str = ""
    url_kwarg: str = ""


#: What each recorded target type is called, and the page that shows one.
TARGET_KINDS = {
    "auth.user": TargetKind("Staff member", "core:staff_detail", "user_id"),
    "orders.order": TargetKind("Order", "orders:order_detail", "order_pk"),
    "orders.batch": TargetKind("Batch", "orders:batch_detail", "batch_pk"),
    "suppliers.supplieraccount": TargetKind(
        "Supplier account", "suppliers:supplier_edit", "account_id"
    ),
    "catalog.pricingrule": TargetKind("Pricing rule", "catalog:pricing_rule_edit", "rule_pk"),
    "catalog.currencyrate": TargetKind("Currency rate", "catalog:pricing"),
    "catalog.profilechange": TargetKind("Balance profile notice"),
    "spend_limit": TargetKind("Spending limit", "orders:spend_limits"),
    "spend_approval": TargetKind("Approval request", "orders:approval_list"),
    "catalog.product": TargetKind("Product", "catalog:product_detail", "product_pk"),
    "finance.reconciliationrun": TargetKind(
        "Reconciliation", "finance:reconciliation_detail", "run_pk"
    ),
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass
class EventLine:
    """One audit event as the log shows it."""

    event: AuditEvent
    action: str
    actor: str
    actor_url: str
    target: str
    target_url: str
    changes: list[Change]
    details: list[tuple[str, str]]


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def _value(value) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, dict):
        return ", ".join(f"{_words(key)} {_value(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value)
    return str(value)


def describe_data(data: dict) -> tuple[list[Change], list[tuple[str, str]]]:
    """A change recorded as {"before": ..., "after": ...} as the fields that changed, before →
    after (a creation or a deletion shows one side as "—"); any other facts as (name, value)."""
    data = data if isinstance(data, dict) else {"value": data}
    changes: list[Change] = []
    rest = {key: value for key, value in data.items() if key not in ("before", "after")}
    if "before" in data or "after" in data:
        before, after = data.get("before"), data.get("after")
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = before or {}, after or {}
            for key in dict.fromkeys([*before, *after]):
                old, new = _value(before.get(key)), _value(after.get(key))
                if old != new:
                    changes.append(Change(_words(key), old, new))
        else:
            changes.append(Change("value", _value(before), _value(after)))
    return changes, [(_words(key), _value(value)) for key, value in rest.items()]


def _url(name: str, **kwargs) -> str:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return ""


def _names(events: list[AuditEvent]) -> dict[tuple[str, str], str]:
    """{(target type, id): name} for targets that have a name (people, supplier accounts),
    read with one query per type on the page."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.target_type and event.target_id:
            wanted[event.target_type].add(event.target_id)
    names = {}
    for target_type, ids in wanted.items():
        try:
            model = apps.get_model(target_type)
        except (LookupError, ValueError):
            continue
        field = next((f for f in ("username", "name") if hasattr(model, f)), None)
        numeric = [int(pk) for pk in ids if pk.isascii() and pk.isdigit()]
        if field is None or not numeric:
            continue
        for pk, name in model._default_manager.filter(pk__in=numeric).values_list("pk", field):
            names[(target_type, str(pk))] = name
    return names


def event_lines(events: Iterable[AuditEvent]) -> list[EventLine]:
    """The events of one page of the log, each in words."""
    events = list(events)
    names = _names(events)
    lines = []
    for event in events:
        kind = TARGET_KINDS.get(event.target_type, TargetKind(_words(event.target_type)))
        target, target_url = "", ""
        if event.target_type:
            name = names.get((event.target_type, event.target_id))
            target = f"{kind.label} {name}" if name else f"{kind.label} #{event.target_id}"
            # A deleted thing has no page to open.
            if kind.url_name and not event.action.endswith(".deleted"):
                kwargs = {kind.url_kwarg: event.target_id} if kind.url_kwarg else {}
                target_url = _url(kind.url_name, **kwargs)
        changes, details = describe_data(event.data)
        lines.append(
            EventLine(
                event=event,
                action=action_label(event.action),
                actor=event.actor_name or "the system",
                actor_url=_url("core:staff_detail", user_id=event.actor_id)
                if event.actor_id
                else "",
                target=target,
                target_url=target_url,
                changes=changes,
                details=details,
            )
        )
    return lines


def event_csv_row(line: EventLine) -> list:
    """One event as a row of the log's CSV."""
    event = line.event
    return [
        event.created_at,
        line.actor,
        line.action,
        event.action,
        line.target,
        "; ".join(f"{c.field}: {c.before} → {c.after}" for c in line.changes),
        "; ".join(f"{name}: {value}" for name, value in line.details),
        event.ip_address or "",
    ]


CSV_HEADER = ["when", "who", "what", "action code", "target", "changes", "details", "from"]
