"""URL map. Handlers stay thin: they parse, ask `server.access`, call a service, render."""

from starlette.routing import BaseRoute

import server.validation  # noqa: F401  (registers the bounded `int` path convertor first)
from server.routes import (
    join,
    me,
    notices,
    officer,
    officer_accounts,
    officer_canned,
    officer_care,
    officer_enrol,
    officer_figures,
    officer_members,
    officer_posters,
    officer_requests,
    partners,
    public,
    push,
    pwa,
    requests,
    rota,
    shared,
    wages,
)

routes: list[BaseRoute] = [
    *public.routes, *pwa.routes, *join.routes, *me.routes,
    # Before requests and officer_requests: their `{action}` patterns would take its paths.
    *partners.routes,
    *requests.routes,
    *officer.routes, *officer_enrol.routes,
    # Before officer_members: its /officer/members/{id}/{decision} would take these paths.
    *officer_care.routes, *officer_members.routes, *shared.routes,
    # Before officer_requests: its /officer/requests/{id}/{action} would take wage paths.
    *wages.routes, *officer_requests.routes,
    *officer_posters.routes, *officer_accounts.routes, *notices.routes, *push.routes,
    *rota.routes,
    *officer_figures.routes, *officer_canned.routes,
]
