"""Finding migration files in the package and splitting SQL into statements.

A migration is `NNNN_name` and has up to three files in `storage/migrations/`:

    NNNN_name.sql            runs on every database
    NNNN_name.plain.sql      runs only on plain PostgreSQL
    NNNN_name.timescale.sql  runs only where TimescaleDB is used

The common file runs first, then the flavour's file, in one transaction — unless a file
starts with the line `-- vitalstream: no-transaction`, in which case each of its
statements runs on its own (needed for TimescaleDB continuous aggregates, which refuse to
be created inside a transaction block). Such files must be written to be re-runnable
(IF NOT EXISTS), since a failure halfway leaves the first statements applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

PACKAGE = "storage.migrations"
FLAVORS = ("plain", "timescale")
NO_TRANSACTION = "-- vitalstream: no-transaction"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(plain|timescale))?\.sql$")


class MigrationFileError(ValueError):
    """The migrations folder holds a file that breaks the naming rules."""


@dataclass(frozen=True)
class SqlFile:
    name: str
    text: str

    @property
    def transactional(self) -> bool:
        return not self.text.lstrip().startswith(NO_TRANSACTION)


@dataclass
class Migration:
    version: str  # "0003_vitals_keys": what schema_migrations records
    common: SqlFile | None = None
    variants: dict[str, SqlFile] = field(default_factory=dict)

    def files_for(self, flavor: str) -> list[SqlFile]:
        files = [self.common] if self.common else []
        if flavor in self.variants:
            files.append(self.variants[flavor])
        return files


def discover(package: str = PACKAGE) -> list[Migration]:
    """All migrations in the package, in version order."""
    by_number: dict[str, Migration] = {}
    for entry in resources.files(package).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if not match:
            raise MigrationFileError(f"migration file {entry.name!r} is not NNNN_name[.plain|.timescale].sql")
        number, name, flavor = match.groups()
        version = f"{number}_{name}"
        migration = by_number.setdefault(number, Migration(version))
        if migration.version != version:
            raise MigrationFileError(f"two migrations share number {number}: {migration.version}, {version}")
        sql = SqlFile(entry.name, entry.read_text(encoding="utf-8"))
        if flavor is None:
            migration.common = sql
        else:
            migration.variants[flavor] = sql
    return [by_number[n] for n in sorted(by_number)]


_TOKEN = re.compile(
    r"""--[^\n]*              # line comment
      | /\*.*?\*/             # block comment (not nested; we don't write nested ones)
      | '(?:[^']|'')*'        # string literal
      | "(?:[^"]|"")*"        # quoted identifier
      | \$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$   # dollar-quoted body
      | ;                     # statement end
      | [^-/'"$;]+ | .        # anything else
    """,
    re.VERBOSE | re.DOTALL,
)


def split_statements(sql: str) -> list[str]:
    """Split a script on the semicolons that end statements (not those in strings/bodies)."""
    statements: list[str] = []
    current: list[str] = []
    for match in _TOKEN.finditer(sql):
        token = match.group(0)
        if token == ";":
            statements.append("".join(current))
            current = []
        elif not token.startswith("--") and not token.startswith("/*"):
            current.append(token)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]
