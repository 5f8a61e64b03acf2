"""gunicorn's settings for Hearth, read by `gunicorn community.wsgi` from the project directory.

Threaded workers keep client connections open between requests (the stock sync worker closes every connection
after one response, so a busy integration reconnects for each call) and overlap one request's database and Redis
waits with another's work. One process per core (at least two), four threads each; both can be set from the
environment.
"""

import os

_cores = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(max(2, _cores))))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
keepalive = 5
