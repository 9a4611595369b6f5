"""myservice: a Quart microservice. `create_app()` builds it; importing reads nothing."""

from myservice.app import create_app

__version__ = "0.1.0"  # written only here: setup.py and the OpenAPI document read it
__all__ = ["__version__", "create_app"]
