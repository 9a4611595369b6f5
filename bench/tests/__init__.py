"""Tests of `make bench`."""
