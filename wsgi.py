"""The WSGI entry point for production servers: `gunicorn wsgi:app`."""

import gc

from mentorly import create_app

app = create_app()
# What start-up built (modules, the app, SQLAlchemy's metadata and compiled statements) lives as
# long as the worker: moved out of the collector's generations, a full collection no longer
# rescans it, which otherwise stalls every request of the worker for about 100 ms at a time.
gc.freeze()
