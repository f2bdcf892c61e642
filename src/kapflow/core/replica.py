"""Reports and exports may read from a streaming replica (decision 0044).

With DATABASE_REPLICA_URL set, settings add the database alias "replica" beside "default".
This router sends a read there only when its selector asks for a report read
(`report_db(Model)`, the router hint `report=True`): the practice's audit trail, its CSV
export and the API's audit list, a client's access report, and the practice outcomes report
with its CSV export and API. Every write, every read inside a transaction and every other
read go to "default": a replica runs a moment behind, and sign-in, permissions, tokens,
sessions, the gates and a record someone has just changed must see the latest row.
Without DATABASE_REPLICA_URL there is no "replica" alias and every read uses "default".

Rows read from the replica remember it (Django's `_state.db`), so their related rows come
from the replica too; saving one still writes to "default".
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, router, transaction

REPLICA = "replica"


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Listed in settings.DATABASE_ROUTERS whether or not a replica is configured."""

    def db_for_read(self, model, **hints):
        if not hints.get("report") or not replica_configured():
            return None  # Django then uses the instance's database, else "default"
        if transaction.get_connection(DEFAULT_DB_ALIAS).in_atomic_block:
            # Inside a transaction the caller may read what it has just written.
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The same rows whichever copy they were read from.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica is a copy of the primary's files: it is never migrated itself.
        return db == DEFAULT_DB_ALIAS


def report_db(model) -> str:
    """The database a report's or an export's read of `model` uses: "replica" when one is
    configured and no transaction is open, else "default"."""
    return router.db_for_read(model, report=True)
