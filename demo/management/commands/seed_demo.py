"""``manage.py seed_demo [--staff N] [--seed S] [--reset]``: load the demo city (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import ProtectedError

from demo.city import (
    DEFAULT_STAFF,
    DEMO_PASSWORD,
    DEMO_SCENARIO_TITLE,
    DEMO_SEED,
    EMAIL_DOMAIN,
    DemoSeedError,
    demo_city_delete,
    demo_city_seed,
    demo_signins,
)


class Command(BaseCommand):
    help = (
        "Load the demo city (an Osaka-like city) with staff, posts, deputies, sign-ins and its "
        "command groups (city HQ, ward HQs, 危機管理室) with two sample messages, and a drill "
        "scenario."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--staff",
            type=int,
            default=DEFAULT_STAFF,
            help=f"staff in all, key people included (default {DEFAULT_STAFF})",
        )
        parser.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed for names")
        parser.add_argument(
            "--reset",
            action="store_true",
            help=(
                "delete the demo city (and only it) first, then seed again. This also deletes "
                "the demo's command groups and their messages, receipts and attachments: "
                "messages are public records, but a DEMO city's are not real ones. Refuses if "
                "demo accounts left records outside the demo (e.g. audit entries)."
            ),
        )

    def handle(self, *args, staff: int, seed: int, reset: bool, **options) -> None:
        if reset:
            try:
                deleted = demo_city_delete()
            except ProtectedError as exc:
                raise CommandError(
                    "The demo accounts have records elsewhere (messages, audit entries); "
                    "they are kept. Use a fresh database instead."
                ) from exc
            self.stdout.write(f"Deleted the demo city ({deleted} staff).")
        try:
            summary = demo_city_seed(staff_count=staff, seed=seed)
        except DemoSeedError as exc:
            raise CommandError(str(exc)) from exc
        if summary.already_loaded and (summary.groups or summary.memberships or summary.messages):
            self.stdout.write(
                f"The demo city is already loaded; added its command groups: {summary.groups} "
                f"groups, {summary.memberships} memberships, {summary.messages} messages."
            )
        elif summary.already_loaded:
            self.stdout.write(
                "The demo city is already loaded; nothing to do (--reset reseeds it)."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo city loaded in {summary.seconds:.1f}s: {summary.units} units, "
                    f"{summary.staff} staff, {summary.accounts} accounts, {summary.posts} posts, "
                    f"{summary.deputies} deputies, {summary.groups} command groups, "
                    f"{summary.memberships} memberships, {summary.messages} messages."
                )
            )
        if summary.safety.incidents:
            self.stdout.write(
                f"Safety: {summary.safety.places} assembly places, a past incident with "
                f"{summary.safety.answers} answers and {summary.safety.checkins} check-ins."
            )
        if summary.scenarios:
            self.stdout.write(f"Added the drill scenario {DEMO_SCENARIO_TITLE}.")
        self.stdout.write("Command groups:")
        for line in summary.group_lines:
            self.stdout.write(
                f"  {line.name} ({line.kind}): {line.recipients} recipients, "
                f"{line.messages} messages"
            )
        # `make run` prints the sign-ins once, in its banner when the server answers; here
        # only on request (-v 2), so they are not printed twice.
        if options["verbosity"] < 2:
            self.stdout.write(
                "Demo sign-ins: `make run` lists them when the server is up "
                "(or: manage.py seed_demo -v 2)."
            )
            return
        self.stdout.write(
            f"Demo sign-ins (password for all: {DEMO_PASSWORD}; "
            f"or sign in with the e-mail s<login>@{EMAIL_DOMAIN}):"
        )
        for role, login, name in demo_signins():
            self.stdout.write(f"  {role:<28} {login:<8} {name}")
