"""Hypercorn's production configuration, read from the environment and the service's settings.

    python -m myservice.supervisor 'myservice:create_app()'

runs Hypercorn with it (see `myservice.supervisor`); so does, with one worker only,

    hypercorn --config python:myservice.serving 'myservice:create_app()'

PORT, HOST, WORKERS, ROOT_PATH, the graceful timeout and logging: see `myservice.server`.
"""

import logging

from myservice.server import HEAD_LIMIT_BYTES, KEEP_ALIVE_SECONDS, run_by_hypercorn, server_options

_options = server_options()
if _options.workers > 1 and run_by_hypercorn():
    # Hypercorn 0.18's own master stops every worker when one dies, then exits 0.
    supervisor = "python -m myservice.supervisor"
    raise SystemExit(f"WORKERS={_options.workers}: serve several workers with {supervisor}")

bind = [f"{_options.host}:{_options.port}"]
# One worker serves in this process (0 to Hypercorn), so SIGTERM reaches the app and /readyz can fail first.
workers = 0 if _options.workers == 1 else _options.workers
worker_class = "uvloop"
graceful_timeout = _options.graceful_timeout
keep_alive_timeout = KEEP_ALIVE_SECONDS  # also closes a connection whose request head is late
h11_max_incomplete_size = HEAD_LIMIT_BYTES  # a larger request head is answered 431
root_path = _options.root_path
accesslog = None  # the app logs one line per request itself
include_server_header = False  # no server name to fingerprint, and one header fewer to send
errorlog = logging.getLogger("hypercorn.error")  # through the service's log handler and format
