"""Admin for safety. The JMA feed's rule, codes and reports live in safety/jma/admin.py."""

from .jma import admin as jma_admin  # noqa: F401  (registers the JMA models)
