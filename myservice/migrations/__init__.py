"""Alembic's migrations of the service's database (see alembic.ini and env.py); one file per change in versions/."""
