"""ASGI entry point for `lianxin serve` (and any ASGI server): `server.asgi:app`."""

from server.app import create_app
from server.settings import load

app = create_app(load())
