from django.core.management.base import BaseCommand
from django.db import transaction

from reseller.core.fields import encrypted_fields
from reseller.core.services import audit_record


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; afterwards the old keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        total = 0
        for model, field_name in encrypted_fields():
            count = self._rotate(model, field_name, batch_size)
            total += count
            self.stdout.write(f"{model._meta.label}.{field_name}: {count} value(s) re-encrypted")
        audit_record(action="secrets.keys_rotated", data={"values": total})
        self.stdout.write(self.style.SUCCESS(f"Done: {total} value(s) now under the newest key."))

    def _rotate(self, model, field_name: str, batch_size: int) -> int:
        # Reading decrypts with whichever key fits; writing encrypts with the first key. A row is
        # locked while it is rewritten so a concurrent save cannot be lost.
        pks = list(
            model.objects.exclude(**{field_name: ""})
            .exclude(**{f"{field_name}__isnull": True})
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for start in range(0, len(pks), batch_size):
            with transaction.atomic():
                rows = model.objects.select_for_update().filter(
                    pk__in=pks[start : start + batch_size]
                )
                for pk, value in rows.values_list("pk", field_name):
                    model.objects.filter(pk=pk).update(**{field_name: value})
        return len(pks)
