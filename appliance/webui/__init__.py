"""The web UI: the extension portal and the administrator's pages, a Flask application served by gunicorn.

`create_app(config=None)` is the factory (gunicorn: `appliance.webui:create_app()`); `appliance web` runs
it over HTTPS with the box certificate and redirects plain HTTP.
"""

from __future__ import annotations

from appliance.webui.app import create_app

__all__ = ["create_app"]
