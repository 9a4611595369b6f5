"""The migrations, oldest first by file name; `make db-revision MSG="..."` writes a new one from the models."""
