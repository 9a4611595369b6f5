"""Packaging: `pip install -e .` installs the service and its runtime dependencies."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# Read, not imported: building the package must not need its dependencies.
VERSION = re.search(r'^__version__ = "(.+)"', Path("myservice/__init__.py").read_text(), re.M)[1]  # type: ignore[index]

setup(
    name="myservice",
    version=VERSION,
    description="A Quart microservice",
    packages=find_packages(exclude=["*.tests", "*.tests.*"]),
    python_requires=">=3.11",
    # The Pythons CI tests (the workflow's matrix) and the Dockerfile may use; tests keep the three in step.
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    # Ranges, not pins (those are in requirements.txt). Quart 0.23 needs Python 3.13.
    install_requires=[
        "quart>=0.20,<0.23",
        "hypercorn>=0.17,<0.19",
        "pyyaml>=6.0,<7",
        "prometheus-client>=0.20,<1",
        "orjson>=3.10,<4",  # JSON log lines at a seventh of the json module's cost
        "quart-cors>=0.7,<1",
        # Only the release tested: the service's api.py replaces its make_response wrapper (checked at start-up
        # and by test_api's test_quart_schema_still_wraps_quart_make_response_as_dump_models_expects).
        "quart-schema[pydantic]>=0.25.0,<0.25.1",
        "uvloop>=0.19; sys_platform != 'win32'",
        "uvicorn>=0.30,<1",  # the fast lane: `make serve SERVER=uvicorn`
        "httptools>=0.6,<1",
    ],
)
