"""The batch state machine as data: every allowed move applies, every other is refused, and a
move decided on an old reading of the batch writes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.batches.states import (
    TRANSITIONS,
    batch_can_move,
    batch_sources,
    batch_transition,
    batches_transition,
)
from orders.errors import InvalidTransition
from orders.models import Batch

B = Batch.Status


def test_the_table_names_every_status_and_only_known_ones():
    assert set(TRANSITIONS) == set(B.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(B.values)
    # Every status but READING (where an uploaded file starts) can be reached.
    reached = {status for targets in TRANSITIONS.values() for status in targets}
    assert reached == set(B.values) - {B.READING}
    # A file is read into its preview or refused; a refused one is only ever discarded.
    assert TRANSITIONS[B.READING] == frozenset({B.PREVIEW, B.REFUSED})
    assert TRANSITIONS[B.REFUSED] == frozenset()
    # A finished batch only ever runs again (an order of it is open again).
    assert TRANSITIONS[B.DONE] == frozenset({B.RUNNING})
    assert batch_sources(B.DONE) == frozenset({B.CONFIRMED, B.RUNNING})
    assert batch_sources(B.PAUSED) == frozenset({B.CONFIRMED, B.RUNNING})


@pytest.mark.parametrize("from_status", B.values)
def test_every_move_from_a_status_is_applied_or_refused_by_the_table(db, from_status):
    batch = Batch.objects.create(name="moves")
    for to_status in B.values:
        Batch.objects.filter(pk=batch.pk).update(status=from_status)
        batch.refresh_from_db()
        if batch_can_move(from_status, to_status):
            batch_transition(batch, to_status, changes={"name": f"to {to_status}"})
            stored = Batch.objects.get(pk=batch.pk)
            assert stored.status == to_status == batch.status
            assert stored.name == f"to {to_status}"
        else:
            with pytest.raises(InvalidTransition) as refused:
                batch_transition(batch, to_status)
            assert refused.value.extra == {"batch": batch.pk, "from": from_status, "to": to_status}
            assert Batch.objects.get(pk=batch.pk).status == from_status


def test_a_move_decided_on_an_old_reading_is_refused_and_writes_nothing(db):
    batch = Batch.objects.create(name="stale", status=B.CONFIRMED)
    old = Batch.objects.get(pk=batch.pk)
    batch_transition(batch, B.PAUSED, changes={"status_before_pause": B.CONFIRMED})
    # CONFIRMED → RUNNING is in the table, but the row is PAUSED now.
    with pytest.raises(InvalidTransition, match="from Paused to Running"):
        batch_transition(old, B.RUNNING)
    assert Batch.objects.get(pk=batch.pk).status == B.PAUSED


def test_a_bulk_move_takes_the_batches_the_table_lets_move(db):
    before = timezone.now() - timedelta(hours=1)
    batches = {status: Batch.objects.create(name=status, status=status) for status in B.values}
    Batch.objects.update(updated_at=before)
    now = timezone.now()
    moved = batches_transition(Batch.objects.all(), B.DONE, changes={"finished_at": now}, now=now)
    assert moved == 2
    done = Batch.objects.filter(status=B.DONE, finished_at=now, updated_at=now)
    assert set(done.values_list("name", flat=True)) == {B.CONFIRMED, B.RUNNING}
    assert Batch.objects.get(pk=batches[B.PAUSED].pk).status == B.PAUSED


def test_a_bulk_move_from_named_statuses_only_and_only_those_in_the_table(db):
    paused = Batch.objects.create(name="paused", status=B.PAUSED)
    done = Batch.objects.create(name="done", status=B.DONE)
    # PAUSED → RUNNING is a move of the table, but reopening a batch is from DONE only.
    assert batches_transition(Batch.objects.all(), B.RUNNING, from_statuses=[B.DONE]) == 1
    assert Batch.objects.get(pk=done.pk).status == B.RUNNING
    assert Batch.objects.get(pk=paused.pk).status == B.PAUSED
    with pytest.raises(InvalidTransition, match="from Preview to Running"):
        batches_transition(Batch.objects.all(), B.RUNNING, from_statuses=[B.PREVIEW])
    assert Batch.objects.filter(status=B.RUNNING).count() == 1
