"""Every setting Lianxin reads, declared once as data with its default and help text.

`load()` turns the environment into a frozen `Settings`; a bad value raises `SettingsError`
with a message naming the variable, so start-up stops before anything is served.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _parse_nonnegative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _parse_db_url(raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg"}:
        raise ValueError("must start with sqlite:// or postgres://")
    return raw


def _parse_base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL such as https://lianxin.example.cn")
    return raw.rstrip("/")


DEFAULT_PUSH_HOSTS = ("fcm.googleapis.com,updates.push.services.mozilla.com,"
                      "*.notify.windows.com,web.push.apple.com")


def _parse_push_hosts(raw: str) -> tuple[str, ...]:
    """Host names (https only, port 443; `*.` allows subdomains) or whole origins
    (`http://127.0.0.1:8123`, `https://push.example:8443`) of the push services allowed."""
    entries = []
    for part in raw.split(","):
        entry = part.strip().lower().rstrip("/")
        if not entry:
            continue
        if "://" in entry:
            parts = urlsplit(entry)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path \
                    or parts.username or parts.query:
                raise ValueError(f"{entry!r} is not an origin such as http://127.0.0.1:8123")
        elif "/" in entry or ":" in entry or "@" in entry:
            raise ValueError(f"{entry!r}: write a host name, or a whole origin with its scheme")
        entries.append(entry)
    return tuple(entries)


def _parse_contact(raw: str) -> str:
    if not raw.startswith(("mailto:", "https://")):
        raise ValueError("must be a mailto: or https: URL push services can write to")
    return raw


def _parse_sms_provider(raw: str) -> str:
    if raw not in {"", "tencent"}:
        raise ValueError("must be empty (SMS off) or tencent")
    return raw


def _parse_hour(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 23:
        raise ValueError("must be an hour of the day, 0 to 23")
    return value


def _parse_sms_templates(raw: str) -> Mapping[str, str]:
    """`reason=template id` pairs, comma-separated: `reply=123456,resolved=123457`."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        reason, sep, template = part.partition("=")
        if not sep or not reason.strip() or not template.strip().isdigit():
            raise ValueError(f"{part.strip()!r}: write reason=template id, e.g. reply=123456")
        out[reason.strip()] = template.strip()
    return out


def _parse_language(raw: str) -> str:
    if raw not in {"zh_Hans", "en"}:
        raise ValueError("must be zh_Hans or en")
    return raw


@dataclass(frozen=True)
class Option:
    env: str
    attr: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


OPTIONS: tuple[Option, ...] = (
    Option("LIANXIN_DB_URL", "db_url", "sqlite://lianxin.sqlite3",
           "Database URL: sqlite://FILE (default, in the working directory) or "
           "postgres://user@host:port/db.", _parse_db_url),
    Option("LIANXIN_DB_READ_URL", "db_read_url", "",
           "Optional read replica (postgres://…): officer figures, digests and searches read "
           "from it; everything else uses LIANXIN_DB_URL.",
           lambda raw: _parse_db_url(raw) if raw else ""),
    Option("LIANXIN_SECRET_KEY", "secret_key", "",
           "Secret for sessions, signed member cards and ID-number encryption. "
           "Development generates one into LIANXIN_SECRET_FILE; production requires it."),
    Option("LIANXIN_SECRET_FILE", "secret_file", ".lianxin-secret",
           "Where a generated development secret is kept (created with mode 0600)."),
    Option("LIANXIN_PRODUCTION", "production", "0",
           "Production mode: refuses to start without LIANXIN_SECRET_KEY, secure cookies only.",
           _parse_bool),
    Option("LIANXIN_BASE_URL", "base_url", "http://127.0.0.1:8000",
           "Public URL of the site, used in QR codes and join links.", _parse_base_url),
    Option("LIANXIN_RELEASE", "release", "",
           "Release label mixed into the service worker's version: change it to make every "
           "installed app fetch a fresh shell even when no static file changed."),
    Option("LIANXIN_DEFAULT_LANGUAGE", "default_language", "zh_Hans",
           "Language when the browser asks for none we have: zh_Hans or en.", _parse_language),
    Option("LIANXIN_MAX_BODY_BYTES", "max_body_bytes", str(64 * 1024),
           "Largest request body accepted for ordinary forms, in bytes.", _parse_positive_int),
    Option("LIANXIN_MAX_UPLOAD_BYTES", "max_upload_bytes", str(4 * 1024 * 1024),
           "Largest request body accepted on routes that take photos or voice messages, in bytes.",
           _parse_positive_int),
    Option("LIANXIN_HEAVY_WORKERS", "heavy_workers", "2",
           "How many CPU-heavy jobs (photo decoding, posters, spreadsheets) one server "
           "process runs at once, each in a worker thread; more wait their turn.",
           _parse_positive_int),
    Option("LIANXIN_LOGIN_MAX_FAILURES", "login_max_failures", "5",
           "Failed officer logins allowed per phone within the lock window.",
           _parse_positive_int),
    Option("LIANXIN_LOGIN_WINDOW_SECONDS", "login_window_seconds", "900",
           "Length of the login lock window, in seconds.", _parse_positive_int),
    Option("LIANXIN_LOGIN_MAX_FAILURES_PER_IP", "login_max_failures_per_ip", "20",
           "Failed officer logins allowed per IP address within the lock window.",
           _parse_positive_int),
    Option("LIANXIN_REBIND_MAX_ATTEMPTS", "rebind_max_attempts", "5",
           "Re-bind code tries allowed per phone number within the re-bind window; a live "
           "code also dies after this many tries against its member.", _parse_positive_int),
    Option("LIANXIN_REBIND_MAX_ATTEMPTS_PER_IP", "rebind_max_attempts_per_ip", "20",
           "Re-bind code tries allowed per IP address within the re-bind window.",
           _parse_positive_int),
    Option("LIANXIN_REBIND_WINDOW_SECONDS", "rebind_window_seconds", "900",
           "Length of the re-bind window, in seconds.", _parse_positive_int),
    Option("LIANXIN_JOIN_MAX_PER_PHONE", "join_max_per_phone", "10",
           "Join forms accepted per phone number within the join window.",
           _parse_positive_int),
    Option("LIANXIN_JOIN_MAX_PER_IP", "join_max_per_ip", "600",
           "Join forms accepted per IP address within the join window; a whole site on one "
           "Wi-Fi joins from one address on a mass-enrolment day, so keep it generous.",
           _parse_positive_int),
    Option("LIANXIN_JOIN_WINDOW_SECONDS", "join_window_seconds", "3600",
           "Length of the join window, in seconds.", _parse_positive_int),
    Option("LIANXIN_REQUESTS_PER_HOUR", "requests_per_hour", "10",
           "New requests one worker may file per hour (each item of an outbox batch counts).",
           _parse_positive_int),
    Option("LIANXIN_DEADLINE_JOB_SECONDS", "deadline_job_seconds", "60",
           "How often each server process runs the deadline job (escalation, auto-close); "
           "0 turns it off (run `lianxin deadlines` from cron instead).",
           _parse_nonnegative_int),
    Option("LIANXIN_DUE_SOON_HOURS", "due_soon_hours", "24",
           "How long before a request's deadline the cadre holding it gets one 快到期 "
           "reminder in their inbox (once per request and deadline).", _parse_positive_int),
    Option("LIANXIN_SUMMARY_HOUR", "summary_hour", "7",
           "Hour of the day (Beijing time, 0-23) from which each project chair gets the "
           "day's summary (每日汇总) in their inbox, made by the deadline job.", _parse_hour),
    Option("LIANXIN_FIGURES_CACHE_SECONDS", "figures_cache_seconds", "10",
           "How long one server process reuses an upper union's project table it has put "
           "together (the page says when); 0 assembles it on every view.",
           _parse_nonnegative_int),
    Option("LIANXIN_QUEUE_POLL_SECONDS", "queue_poll_seconds", "20",
           "How often an open officer request queue asks whether anything changed (paused "
           "while the tab is hidden; an unchanged queue answers 304 with no body).",
           _parse_positive_int),
    Option("LIANXIN_OFFICER_SESSION_HOURS", "officer_session_hours", "12",
           "How long an officer stays signed in.", _parse_positive_int),
    Option("LIANXIN_MEMBER_CARD_DAYS", "member_card_days", "30",
           "How long a member card stays valid; the phone renews it whenever it has signal.",
           _parse_positive_int),
    Option("LIANXIN_VAPID_PRIVATE_KEY", "vapid_private_key", "",
           "Web Push signing key (VAPID, P-256), base64url of the raw 32-byte private key or "
           "a PEM. Empty: one is generated on first use into .lianxin-vapid next to "
           "LIANXIN_SECRET_FILE; set it when several hosts send pushes."),
    Option("LIANXIN_PUSH_HOSTS", "push_hosts", DEFAULT_PUSH_HOSTS,
           "Push services the server may send to (comma-separated host names over https, "
           "`*.` for subdomains, or whole origins such as http://127.0.0.1:8123). Any other "
           "subscription endpoint is refused: it would make the server call that address.",
           _parse_push_hosts),
    Option("LIANXIN_PUSH_CONTACT", "push_contact", "mailto:admin@lianxin.invalid",
           "Contact the push services may write to about this sender (VAPID `sub` claim): "
           "mailto: or https: URL.", _parse_contact),
    Option("LIANXIN_DELIVERY_JOB_SECONDS", "delivery_job_seconds", "5",
           "How often each server process drains the delivery queue (pushes) when it is "
           "empty; 0 turns it off (run `lianxin worker` instead).", _parse_nonnegative_int),
    Option("LIANXIN_KEEP_DELIVERIES_DAYS", "keep_deliveries_days", "90",
           "Days a finished delivery (sent, given up or failed) stays in the delivery log "
           "before the daily prune deletes it.", _parse_positive_int),
    Option("LIANXIN_KEEP_READ_INBOX_DAYS", "keep_read_inbox_days", "180",
           "Days a read inbox item is kept (counted from its arrival); unread ones stay.",
           _parse_positive_int),
    Option("LIANXIN_KEEP_ENDED_SESSIONS_DAYS", "keep_ended_sessions_days", "30",
           "Days an expired or signed-out session row is kept before the daily prune "
           "deletes it (it no longer signs anyone in either way).", _parse_positive_int),
    Option("LIANXIN_SMS_PROVIDER", "sms_provider", "",
           "SMS provider: empty (default) sends no SMS; `tencent` sends through Tencent "
           "Cloud SMS's official SDK to members who turned SMS on.", _parse_sms_provider),
    Option("LIANXIN_SMS_SECRET_ID", "sms_secret_id", "",
           "The provider's API secret id (Tencent Cloud SecretId)."),
    Option("LIANXIN_SMS_SECRET_KEY", "sms_secret_key", "",
           "The provider's API secret key (Tencent Cloud SecretKey)."),
    Option("LIANXIN_SMS_APP_ID", "sms_app_id", "",
           "The SMS application id (Tencent Cloud SmsSdkAppId)."),
    Option("LIANXIN_SMS_SIGN_NAME", "sms_sign_name", "",
           "The approved signature the messages carry (签名), e.g. 连心桥."),
    Option("LIANXIN_SMS_REGION", "sms_region", "ap-guangzhou",
           "The provider's region for the SMS API."),
    Option("LIANXIN_SMS_ENDPOINT", "sms_endpoint", "",
           "Override of the provider's API address (host[:port], or http://host:port for a "
           "local stand-in in tests); empty uses the SDK's default."),
    Option("LIANXIN_SMS_TEMPLATES", "sms_templates", "",
           "Approved template ids per inbox reason, e.g. reply=123456,resolved=123457; a "
           "reason without a template is not sent by SMS. Each template takes one parameter, "
           "the request number.", _parse_sms_templates),
    Option("LIANXIN_SMS_DAILY_CAP", "sms_daily_cap", "3",
           "SMS messages one member receives per day (Beijing time) at most; more are "
           "recorded as not sent (the inbox and Web Push still carry them).",
           _parse_positive_int),
    Option("LIANXIN_SMS_PRICE_FEN", "sms_price_fen", "4",
           "Price of one SMS in fen, for the monthly cost counter on the delivery log.",
           _parse_nonnegative_int),
)


@dataclass(frozen=True)
class Settings:
    db_url: str
    db_read_url: str
    secret_key: str
    secret_file: str
    production: bool
    base_url: str
    release: str
    default_language: str
    max_body_bytes: int
    max_upload_bytes: int
    heavy_workers: int
    login_max_failures: int
    login_window_seconds: int
    login_max_failures_per_ip: int
    rebind_max_attempts: int
    rebind_max_attempts_per_ip: int
    rebind_window_seconds: int
    join_max_per_phone: int
    join_max_per_ip: int
    join_window_seconds: int
    requests_per_hour: int
    officer_session_hours: int
    member_card_days: int
    deadline_job_seconds: int
    vapid_private_key: str = ""
    push_hosts: tuple[str, ...] = ()
    push_contact: str = "mailto:admin@lianxin.invalid"
    delivery_job_seconds: int = 0
    keep_deliveries_days: int = 90
    keep_read_inbox_days: int = 180
    keep_ended_sessions_days: int = 30
    sms_provider: str = ""
    sms_secret_id: str = ""
    sms_secret_key: str = ""
    sms_app_id: str = ""
    sms_sign_name: str = ""
    sms_region: str = "ap-guangzhou"
    sms_endpoint: str = ""
    sms_templates: Mapping[str, str] = field(default_factory=dict)
    sms_daily_cap: int = 3
    sms_price_fen: int = 4
    due_soon_hours: int = 24
    summary_hour: int = 7
    figures_cache_seconds: int = 0
    queue_poll_seconds: int = 20
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return not self.db_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.production or self.base_url.startswith("https://")


def _dev_secret(path: Path) -> str:
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SettingsError(
                f"{path} holds the secret key but is readable by others (mode {mode:o}); "
                "run: chmod 600 " + str(path)
            )
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise SettingsError(f"{path} holds a secret shorter than 32 characters")
        return secret
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def load(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = env.get(option.env, option.default)
        try:
            values[option.attr] = option.parse(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{option.env}={raw!r} is not valid: {exc}. {option.help}") from exc
    if not values["secret_key"]:
        if values["production"]:
            raise SettingsError(
                "LIANXIN_SECRET_KEY is required when LIANXIN_PRODUCTION is on; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        values["secret_key"] = _dev_secret(Path(values["secret_file"]))
    elif len(values["secret_key"]) < 32:
        raise SettingsError("LIANXIN_SECRET_KEY must be at least 32 characters long")
    return Settings(**values)


def describe() -> str:
    """Plain-text table of every setting, for `lianxin settings` and the README test."""
    lines = []
    for option in OPTIONS:
        lines.append(f"{option.env} (default: {option.default or '—'})\n    {option.help}")
    return "\n".join(lines)
