from django.core.management.base import BaseCommand

from notifications.vapid import vapid_file, vapid_generate, vapid_keys


class Command(BaseCommand):
    help = "Create the VAPID key pair for Web Push in var/ (unless one exists or is set by env)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="replace an existing key pair")

    def handle(self, *args, force: bool = False, **options):
        vapid, public = vapid_keys()
        if vapid is not None and not force:
            self.stdout.write(f"VAPID keys present. Public key: {public}")
            return
        path = vapid_generate()
        _vapid, public = vapid_keys()
        self.stdout.write(
            self.style.SUCCESS(f"Created {path} (keep it secret). Public key: {public}")
        )
        self.stdout.write(f"For several servers set HONBU_VAPID_PRIVATE_KEY from {vapid_file()}.")
