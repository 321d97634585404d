"""The `lianxin` command: serve, migrate, demo, invite, officer (add, list, deactivate,
reactivate, reset-password), export, backup, worker, prune, figures, settings."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from tortoise import Tortoise
from tortoise.expressions import Q

from server import settings as settings_module
from server.crypto import Keyring
from server.db import apply_migrations, tortoise_config
from server.errors import DomainError
from server.settings import Settings, SettingsError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    print(f"lianxin: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_settings() -> Settings:
    try:
        return settings_module.load()
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers sure of the return


async def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    await apply_migrations(settings.db_url)
    await Tortoise.init(config=tortoise_config(settings.db_url))
    try:
        return await work()
    finally:
        await Tortoise.close_connections()


def run_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_with_db(settings, work))


def run_or_fail(settings: Settings, work: Callable[[], Awaitable[T]],
                *refusals: type[Exception]) -> T:
    """`run_db`, with a service's refusal (its message is for the user) as exit status 2."""
    try:
        return run_db(settings, work)
    except (DomainError, *refusals) as exc:  # type: ignore[misc]
        fail(str(exc))


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = load_settings()
    asyncio.run(apply_migrations(settings.db_url))
    print(f"Lianxin serving on http://{args.host}:{args.port}/ (database: "
          f"{'PostgreSQL' if settings.is_postgres else 'SQLite'})", flush=True)
    uvicorn.run("server.asgi:app", host=args.host, port=args.port, workers=args.workers,
                proxy_headers=args.proxy_headers, forwarded_allow_ips=args.forwarded_allow_ips,
                log_level=args.log_level, server_header=False)


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = load_settings()
    asyncio.run(apply_migrations(settings.db_url))
    print("migrations applied")


def cmd_demo(args: argparse.Namespace) -> None:
    from server.crypto import Keyring
    from server.services.demo import (
        DEMO_PASSWORD,
        DemoLogin,
        load_demo,
        load_demo_canned,
        load_demo_cases,
    )

    settings = load_settings()

    async def load() -> list[DemoLogin]:
        logins = await load_demo()
        await load_demo_cases(Keyring(settings.secret_key))
        await load_demo_canned()
        return logins

    logins = run_db(settings, load)
    print("Demo union loaded: 陕西省总工会 → 陕西省建设工会 → 中建一局 → 中建一局西北公司 →")
    print("  xibailiang (西柏梁, enrolments approved automatically),")
    print("  chuangxingang (创新港, enrolments wait for a cadre)")
    print(f"Officer logins at {settings.base_url}/officer/login (password: {DEMO_PASSWORD}):")
    for login in logins:
        print(f"  {login.phone}  {login.role.value:<8} {login.union:<16} {login.name}"
              + ("" if login.created else "  (already there)"))
    print("Demo wage cases (欠薪): five at each project, see /officer/figures")


def cmd_invite(args: argparse.Namespace) -> None:
    from server.services.invites import (
        get_or_create_invite,
        join_url,
        replace_invite,
    )

    settings = load_settings()

    async def work() -> tuple[str, Any]:
        make = replace_invite if args.revoke else get_or_create_invite
        invite = await make(args.project_code, args.team)
        await invite.fetch_related("project__parent")
        return join_url(settings.base_url, invite), invite

    url, invite = run_or_fail(settings, work)
    print(url)
    if args.out:
        from server.services.posters import write_poster

        try:
            parent = invite.project.parent
            write_poster(Path(args.out), url=url,
                         union_name=parent.name if parent else invite.project.name,
                         project_name=invite.project.name,
                         team_name=invite.team.name if invite.team else None)
        except ValueError as exc:
            fail(str(exc))
        print(f"poster written to {args.out}", file=sys.stderr)


def cmd_officer_add(args: argparse.Namespace) -> None:
    from server.services.officers import add_officer

    settings = load_settings()
    password = args.password
    if password is None:
        password = (getpass.getpass("Password: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))

    async def work() -> Any:
        from server.services import audit

        partner = ({"organisation": args.organisation or "",
                    "partner_kind": args.partner_kind or ""} if args.role == "partner" else None)
        officer = await add_officer(phone=args.phone, name=args.name, role=args.role,
                                    union_code=args.union, password=password, team=args.team,
                                    partner=partner)
        # From the shell, so the entry names no officer (like the other account commands).
        await audit.record(None, "officer.add", officer, role=args.role, union=args.union,
                           via="cli")
        return officer

    officer = run_or_fail(settings, work)
    print(f"officer {officer.phone} ({officer.role.value}) added")


def cmd_officer_list(args: argparse.Namespace) -> None:
    """Every account (in a union's subtree with --union), active first, tab-separated."""
    from server.services.officers import listing_lines, roster
    from server.services.unions import node_by_code

    async def work() -> list[str]:
        under = await node_by_code(args.union) if args.union else None
        rows, _ = await roster(Q(), under=under, page_size=1_000_000)
        return listing_lines(rows)

    for line in run_or_fail(load_settings(), work):
        print(line)


def cmd_officer_state(args: argparse.Namespace) -> None:
    """deactivate (with hand-over), reactivate, reset-password: on nobody's behalf but the
    shell's, so the audit entries name no officer."""
    from server.services import officers

    settings = load_settings()

    async def work() -> list[str]:
        officer = await officers.by_phone(args.phone)
        if args.officer_command == "reset-password":
            outcome = await officers.reset_password(officer, None, Keyring(settings.secret_key))
            return [f"officer {officer.phone}: password reset, {outcome.sessions_ended} "
                    f"sessions ended; one-time code (valid {officers.CODE_LIFETIME}): "
                    f"{outcome.code}"]
        if args.officer_command == "deactivate":
            outcome = await officers.deactivate(officer, None)
            verb = "deactivated" if outcome.changed else "was already inactive"
        else:
            outcome = await officers.reactivate(officer, None)
            verb = "reactivated" if outcome.changed else "was already active"
        moved = outcome.handed_over
        lines = [f"officer {officer.phone} {verb}"]
        if outcome.changed and args.officer_command == "deactivate":
            lines[0] += (f": {outcome.sessions_ended} sessions ended, {moved.members} members "
                         f"and {moved.requests} open requests handed over")
        for r in moved.receivers.values():
            lines.append(f"  {r.members} members, {r.requests} requests -> "
                         + (r.name if r.id is not None else "nobody (no active cadre or chair)"))
        return lines

    for line in run_or_fail(settings, work):
        print(line)


def cmd_union_add(args: argparse.Namespace) -> None:
    from server.services.unions import add_union

    settings = load_settings()

    async def work() -> Any:
        return await add_union(code=args.code, name=args.name, kind=args.kind,
                               parent_code=args.parent, auto_approve=args.auto_approve)

    node = run_or_fail(settings, work)
    print(f"union {node.code} ({node.kind.value}) added: {node.name}")


def cmd_union_list(args: argparse.Namespace) -> None:
    from server.services.unions import tree_lines

    for line in run_db(load_settings(), tree_lines):
        print(line)


def cmd_team_add(args: argparse.Namespace) -> None:
    from server.services.unions import add_team, node_by_code

    async def work() -> Any:
        return await add_team(await node_by_code(args.project), args.name)

    team = run_or_fail(load_settings(), work)
    print(f"team {team.name} added to {args.project}")


def cmd_export(args: argparse.Namespace) -> None:
    from server.services import exports

    settings = load_settings()
    async def work() -> int:
        if args.what == "members":
            return await exports.export_members(Path(args.out), args.format)
        return await exports.export_requests(Path(args.out), args.format,
                                             identities=not args.no_identities)

    rows = run_db(settings, work)
    print(f"{rows} rows written to {args.out}")


def cmd_backup(args: argparse.Namespace) -> None:
    from server.services.backup import backup_sqlite, sqlite_path_from_url

    settings = load_settings()
    source = sqlite_path_from_url(settings.db_url)
    if source is None:
        fail("backup copies SQLite databases; for PostgreSQL use pg_dump (see docs/deploy.md)")
        return
    asyncio.run(backup_sqlite(source, Path(args.out)))
    print(f"backup written to {args.out}")


def cmd_deadlines(args: argparse.Namespace) -> None:
    from server.services.escalation import run_deadline_job

    settings = load_settings()
    result = run_db(settings, lambda: run_deadline_job(
        due_soon=timedelta(hours=settings.due_soon_hours), summary_hour=settings.summary_hour))
    print(f"{result.escalated} escalated, {result.closed} closed, "
          f"{result.reminded} reminded, {result.summaries} daily summaries")


def cmd_figures(args: argparse.Namespace) -> None:
    from server.services import figure_rows

    settings = load_settings()
    if args.figures_command == "rebuild":
        result = run_db(settings, figure_rows.rebuild)
        print(f"summary rows rebuilt: {result.months} project-months, {result.projects} "
              f"projects in {result.seconds:.1f} s")
    else:
        run_db(settings, figure_rows.refresh_overdue)
        print("overdue requests counted")


def cmd_worker(args: argparse.Namespace) -> None:
    from server.services.delivery import Worker, delivery_loop

    settings = load_settings()

    async def work() -> None:
        if args.once:
            async with Worker(settings, batch=args.batch) as worker:
                stats = await worker.drain()
            print(f"sent {stats.sent}, failed {stats.failed}, dead {stats.dead}", flush=True)
            return
        print(f"lianxin worker draining the delivery queue every {args.interval} s",
              flush=True)
        await delivery_loop(settings, args.interval, batch=args.batch)

    run_db(settings, work)


def cmd_prune(args: argparse.Namespace) -> None:
    from server.services.prune import prune

    settings = load_settings()
    print(f"pruned {run_db(settings, lambda: prune(settings))}")


def cmd_settings(args: argparse.Namespace) -> None:
    print(settings_module.describe())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lianxin", description="连心桥 Lianxin union service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations, then serve the app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--proxy-headers", action="store_true",
                       help="trust X-Forwarded-* from --forwarded-allow-ips")
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load the demo union (idempotent)").set_defaults(func=cmd_demo)

    invite = sub.add_parser("invite", help="print a project's join URL, optionally a poster")
    invite.add_argument("project_code")
    invite.add_argument("--team")
    invite.add_argument("--out", help="poster file: .pdf, .svg or .png")
    invite.add_argument("--revoke", action="store_true",
                        help="revoke the current code (its posters stop working), print a new one")
    invite.set_defaults(func=cmd_invite)

    officer = sub.add_parser("officer", help="manage officer accounts")
    officer_sub = officer.add_subparsers(dest="officer_command", required=True)
    add = officer_sub.add_parser("add", help="add an officer (password from stdin)")
    add.add_argument("--phone", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=["admin", "upper", "chair", "cadre",
                                                       "manager", "partner"])
    add.add_argument("--union", required=True, help="union node code, e.g. xibailiang")
    add.add_argument("--team", help="cadre's own team (same-team members go to them first)")
    add.add_argument("--password", help="password (default: read from stdin)")
    add.add_argument("--organisation", help="a partner's organisation (role partner), e.g. "
                     "西安市法律援助中心")
    add.add_argument("--partner-kind", choices=["legal_aid", "hotline", "mediation",
                                                "counselling", "other"],
                     help="a partner's kind (role partner)")
    add.set_defaults(func=cmd_officer_add)
    listing = officer_sub.add_parser(
        "list", help="list accounts, tab-separated: phone, role, status, union, team, "
        "members, open_requests, name")
    listing.add_argument("--union", help="only this union node and the nodes below it")
    listing.set_defaults(func=cmd_officer_list)
    for name, text in (("deactivate", "deactivate an account: its sessions end, its members "
                        "and open requests go to other officers of the project"),
                       ("reactivate", "let a deactivated account sign in again"),
                       ("reset-password", "void the password, end the sessions and print a "
                        "one-time code to set a new one at /officer/password")):
        change = officer_sub.add_parser(name, help=text)
        change.add_argument("--phone", required=True)
        change.set_defaults(func=cmd_officer_state)

    union = sub.add_parser("union", help="the union tree: add a node, list the tree")
    union_sub = union.add_subparsers(dest="union_command", required=True)
    union_add = union_sub.add_parser("add", help="add a union node")
    union_add.add_argument("--code", required=True, help="short id: a-z, 0-9 and -")
    union_add.add_argument("--name", required=True)
    union_add.add_argument("--kind", required=True,
                           choices=["province", "industry", "company", "branch", "project"])
    union_add.add_argument("--parent", help="code of the union above (all but a province)")
    union_add.add_argument("--auto-approve", action="store_true",
                           help="project only: approve enrolments without a cadre")
    union_add.set_defaults(func=cmd_union_add)
    union_sub.add_parser("list", help="print the tree").set_defaults(func=cmd_union_list)

    team = sub.add_parser("team", help="a project's teams")
    team_sub = team.add_subparsers(dest="team_command", required=True)
    team_add = team_sub.add_parser("add", help="add a team to a project")
    team_add.add_argument("--project", required=True, help="project union code")
    team_add.add_argument("--name", required=True)
    team_add.set_defaults(func=cmd_team_add)

    export = sub.add_parser("export", help="export members or requests")
    export.add_argument("what", choices=["members", "requests"])
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    export.add_argument("--out", required=True)
    export.add_argument("--no-identities", action="store_true",
                        help="requests: management's copy (only what was referred to "
                             "management, naming nobody)")
    export.set_defaults(func=cmd_export)

    backup = sub.add_parser("backup", help="consistent copy of the SQLite database in use")
    backup.add_argument("--out", required=True)
    backup.set_defaults(func=cmd_backup)

    sub.add_parser("deadlines", help="run the deadline job once (escalate overdue requests)"
                   ).set_defaults(func=cmd_deadlines)
    figures_cmd = sub.add_parser("figures", help="the summary rows behind the upper union's "
                                 "figures")
    figures_sub = figures_cmd.add_subparsers(dest="figures_command", required=True)
    figures_sub.add_parser("rebuild", help="recompute them from the requests and members "
                           "(they are kept current by the database; this is for repair)"
                           ).set_defaults(func=cmd_figures)
    figures_sub.add_parser("overdue", help="count overdue requests per project now (the "
                           "server does it every few minutes)").set_defaults(func=cmd_figures)
    worker = sub.add_parser("worker", help="send queued pushes (also runs in every server "
                            "process unless LIANXIN_DELIVERY_JOB_SECONDS=0)")
    worker.add_argument("--once", action="store_true", help="drain the queue once and exit")
    worker.add_argument("--interval", type=float, default=2.0,
                        help="seconds to wait when the queue is empty")
    worker.add_argument("--batch", type=int, default=100, help="deliveries claimed at a time")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("prune", help="delete finished deliveries, read inbox items and ended "
                   "sessions past their LIANXIN_KEEP_* days (every delivery loop also does, "
                   "daily)").set_defaults(func=cmd_prune)
    sub.add_parser("settings", help="list settings and their defaults").set_defaults(
        func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
