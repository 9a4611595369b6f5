"""The models: SQLAlchemy declarative classes, one module per resource (`models/orders.py`).

Every module of this package is imported by `import_models`, so Alembic's autogenerate and the
tests see every table without a list to keep up to date.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Constraint names that are the same on every database, so migrations can drop and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def import_models(package: str = __name__) -> MetaData:
    """Import every models module, so that each table is in `Base.metadata`, and return it."""
    for module_info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module_info.name}")
    return Base.metadata
