"""Tests of the template's tooling: `make rename`, `make blueprint`, `make update-template`."""
