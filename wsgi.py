"""The WSGI entry point for production servers: `gunicorn wsgi:app`."""

from mentorly import create_app

app = create_app()
