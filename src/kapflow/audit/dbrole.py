"""The runtime database role (PostgreSQL): what the application connects as in production.

Migrations run as the role that owns the tables. The application runs as another role that
holds ordinary DML on every table but only INSERT and SELECT on the audit tables: it cannot
UPDATE, DELETE or TRUNCATE them, and, not being their owner, cannot ALTER them (so cannot
disable the append-only trigger or drop a constraint). docs/security.md ("Runtime database
role") gives the deployment steps; `kapflow audit_db_role` prints or applies this SQL.

Only the owner (the migration role) may run it: ALTER DEFAULT PRIVILEGES applies to tables
that role creates later, so new tables get the same grants. Run it again after every
migrate; it is idempotent.
"""

import re

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_auditcheck", "audit_disclosure")
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def runtime_role_sql(role: str, *, schema: str = "public") -> list[str]:
    """The GRANT and REVOKE statements for `role` (which must already exist)."""
    if not _ROLE_NAME.match(role) or not _ROLE_NAME.match(schema):
        raise ValueError("role and schema must be plain lower-case identifiers")
    append_only = ", ".join(f"{schema}.{table}" for table in APPEND_ONLY_TABLES)
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        # The audit trail: append and read, nothing else.
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {append_only} FROM {role}",
        f"GRANT SELECT, INSERT ON {append_only} TO {role}",
    ]
