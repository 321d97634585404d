"""The ASGI application: `create_app(settings)` wires middleware, routes and the database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from tortoise.contrib.starlette import RegisterTortoise

from server.crypto import Keyring
from server.db import tortoise_config
from server.errors import DomainError
from server.routes import routes
from server.services import limits, offload, sms
from server.services.delivery import delivery_loop
from server.services.escalation import deadline_loop
from server.settings import Settings
from server.web.errors import domain_error, http_exception, server_error
from server.web.middleware import BodyLimitMiddleware, LocaleMiddleware, SecurityHeadersMiddleware
from server.web.sessions import ServerSessionMiddleware
from server.web.static import AssetStore
from server.web.templating import make_templates

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings) -> Starlette:
    # Services read the rate limits from here (they are per process, like the settings).
    limits.configure(settings)
    sms.configure(settings)
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(
                app, config=tortoise_config(settings.db_url, settings.db_read_url)):
            # What start-up built (models, templates, catalogues) lives as long as the
            # process: keep the collector from scanning it again on every collection.
            gc.collect()
            gc.freeze()
            jobs = []
            if settings.deadline_job_seconds:
                jobs.append(asyncio.create_task(deadline_loop(
                    settings.deadline_job_seconds,
                    due_soon=timedelta(hours=settings.due_soon_hours),
                    summary_hour=settings.summary_hour)))
            if settings.delivery_job_seconds:
                jobs.append(asyncio.create_task(
                    delivery_loop(settings, settings.delivery_job_seconds)))
            try:
                yield
            finally:
                for job in jobs:
                    job.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await job

    offload.configure(settings.heavy_workers)
    assets = AssetStore({"static": ROOT / "static", "pwa/icons": ROOT / "pwa" / "icons",
                         "sw": ROOT / "sw"}, release=settings.release)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=settings.production),
            Middleware(GZipMiddleware, minimum_size=600),
            Middleware(LocaleMiddleware, default=settings.default_language),
            Middleware(ServerSessionMiddleware, keyring=Keyring(settings.secret_key),
                       officer_hours=settings.officer_session_hours,
                       secure=settings.secure_cookies),
            Middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes,
                       upload_limit=settings.max_upload_bytes),
        ],
        exception_handlers={HTTPException: http_exception, DomainError: domain_error,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keyring = Keyring(settings.secret_key)
    app.state.assets = assets
    app.state.templates = make_templates(assets.url)
    return app
