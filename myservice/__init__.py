"""myservice: a Quart microservice. `create_app()` builds it; importing reads nothing."""

from myservice.app import create_app

__all__ = ["create_app"]
