"""Development on one machine (``make run``): DEBUG on, a fixed development secret."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="honbu-local-development-only-not-secret")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])

# `make run` without EMAIL_URL: e-mails (reminders, invitations, password resets) are written to
# files in var/mail/ instead of over the terminal, where a chase's hundreds of reminders would
# scroll everything else away. `make run` prints where they are; EMAIL_URL sends them for real.
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":  # noqa: F405
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")  # noqa: F405
