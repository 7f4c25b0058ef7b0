"""The `herald` command: serve, worker, migrate, mcp (stdio), keys, targets, plans, dead-letters.

Exit codes (README, "Command line"): 0 done; 1 unexpected failure; 2 bad usage or input (VALIDATION_ERROR);
3 not found (an unknown id, or no API key in this database); 4 not allowed (a bad key, a missing scope);
5 refused by Herald for another reason (a conflict, a halt: the message says which).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from server import __version__, heap
from server.config import DEV_BANNER, Settings
from server.logs import configure_logging

OK, FAILED, USAGE, NOT_FOUND, NOT_ALLOWED, REFUSED = 0, 1, 2, 3, 4, 5
_ERROR_EXITS = {"VALIDATION_ERROR": USAGE, "NOT_FOUND": NOT_FOUND, "UNAUTHORIZED": NOT_ALLOWED}
_ERROR_EXITS |= {"FORBIDDEN": NOT_ALLOWED, "READ_ONLY_KEY": NOT_ALLOWED, "INTERNAL_ERROR": FAILED}
NO_WORKER_HELP = (
    "Consume no queue messages in this process (an awaitDelivery call still delivers its own small plan: "
    "HERALD_EAGER_DELIVERY_MAX_JOBS)."
)


def _settings(args: argparse.Namespace) -> Settings:
    given = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    return Settings(**overrides)


def _logging(settings: Settings) -> None:
    configure_logging(settings)


def _say_storage(settings: Settings) -> None:
    """Every command that opens the database says which one, so two of them never disagree unnoticed."""
    print(f"herald: {settings.describe_storage()}", file=sys.stderr)
    legacy = settings.legacy_data_dir_hint()
    if legacy:
        print(f"herald: {legacy}", file=sys.stderr)
    if settings.dev:
        print(f"herald: {DEV_BANNER}", file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    settings = _settings(args)
    refusal = settings.dev_refusal()
    if refusal:
        print(f"herald serve: {refusal}", file=sys.stderr)
        return USAGE
    _logging(settings)
    _say_storage(settings)
    app = create_app(settings, worker=not args.no_worker)
    heap.settle()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), lifespan="on")
    return OK


def worker(args: argparse.Namespace) -> int:
    from server.metrics.exposition import WorkerMetricsServer
    from server.migrate import upgrade
    from server.runtime import build_runtime
    from tasks.worker import DeliveryWorker

    settings = _settings(args)
    _logging(settings)
    if settings.embedded:
        print(
            "herald worker needs HERALD_REDIS_URL; without Redis, `herald serve` delivers in process.", file=sys.stderr
        )
        return USAGE
    _say_storage(settings)
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    delivery, exposed = DeliveryWorker(rt), WorkerMetricsServer(rt)
    heap.settle()
    exposed.start()  # a port already taken fails here, before anything is delivered
    delivery.start()
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    exposed.stop()
    delivery.stop()
    rt.close()
    return 0


def migrate(args: argparse.Namespace) -> int:
    from server.db import make_engine
    from server.migrate import upgrade

    settings = _settings(args)
    _logging(settings)
    _say_storage(settings)
    upgrade(make_engine(settings))
    print("database is at the latest migration")
    return 0


def mcp_stdio(args: argparse.Namespace) -> int:
    from mcp_tools.stdio import run_stdio

    settings = _settings(args)
    _logging(settings)
    _say_storage(settings)
    return run_stdio(settings, worker=not args.no_worker)


def keys_create(args: argparse.Namespace) -> int:
    from server.keys.service import ALL_SCOPES, DEFAULT_WORKSPACE, create_key
    from server.migrate import upgrade
    from server.runtime import build_runtime

    settings = _settings(args)
    _say_storage(settings)
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip()) if args.scopes else ALL_SCOPES
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        print(f"Unknown scope(s) {sorted(unknown)}; choose from {', '.join(ALL_SCOPES)}.", file=sys.stderr)
        return USAGE
    key = create_key(
        rt, args.name, workspace_id=args.workspace or DEFAULT_WORKSPACE, scopes=scopes, read_only=args.read_only
    )
    rt.close()
    print(
        f"Created API key {key.id} ({key.name}) in workspace {key.workspace_id}, scopes {','.join(scopes)}"
        f"{', read-only' if args.read_only else ''}. It is shown only once:"
    )
    print(key.secret)
    return 0


def keys_list(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from server.db import session_scope
    from server.models import ApiKey

    settings = _settings(args)
    _say_storage(settings)
    missing = missing_database(settings)
    if missing:
        print(f"herald: {missing}", file=sys.stderr)
        return NOT_FOUND
    rt = _open(settings)
    with session_scope(rt.engine) as session:
        query = select(ApiKey).order_by(ApiKey.id)
        if args.workspace:
            query = query.where(ApiKey.workspace_id == args.workspace)
        rows = [
            {
                "id": key.id,
                "workspace": key.workspace_id,
                "prefix": f"{key.prefix}…",
                "scopes": ",".join(key.scopes) + (" read-only" if key.read_only else ""),
                "state": f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active",
                "name": key.name,
            }
            for key in session.exec(query).all()
        ]
    rt.close()
    if not rows:
        where = f" in workspace {args.workspace}" if args.workspace else ""
        print(
            f"No API key{where} in this database ({settings.describe_storage()}). If the server uses another one, "
            "set HERALD_DATA_DIR (or HERALD_DATABASE_URL) to the same; else create one: herald keys create --name NAME",
            file=sys.stderr,
        )
        return NOT_FOUND
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows, ["id", "workspace", "prefix", "scopes", "state", "name"]))
    return OK


def keys_revoke(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from server.db import session_scope
    from server.models import ApiKey
    from server.models.base import utcnow
    from server.runtime import build_runtime

    settings = _settings(args)
    _say_storage(settings)
    rt = build_runtime(settings)
    with session_scope(rt.engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.id == args.id)).first()
        if key is None:
            print(f"No API key {args.id} in this database ({settings.describe_storage()}).", file=sys.stderr)
            return NOT_FOUND
        key.revoked_at = key.revoked_at or utcnow()
        session.add(key)
    rt.close()
    print(f"Revoked {args.id}.")
    return 0


def secrets_rotate(args: argparse.Namespace) -> int:
    from server.runtime import build_runtime
    from server.secrets_rotation import progress_bar, rotate_all

    settings = _settings(args)
    if not settings.secret_keys:
        print("Set HERALD_SECRET_KEYS to 'NEW,OLD' (newest first) before rotating.", file=sys.stderr)
        return USAGE
    rt = build_runtime(settings)
    count = rotate_all(rt, progress_bar())
    rt.close()
    print(f"Re-encrypted {count} secret(s) under the newest key; older keys can be removed from HERALD_SECRET_KEYS.")
    return 0


def makemigration(args: argparse.Namespace) -> int:
    from server.migrate import autogenerate

    path = autogenerate(args.message)
    print(f"Wrote {path}; review it, then run the tests on both databases (test_migrations checks it).")
    return 0


def missing_database(settings: Settings) -> str | None:
    """Why there is nothing to read here (no SQLite file in the data directory), or None; creates nothing."""
    if settings.database_url is None and not (settings.data_dir / "herald.db").exists():
        return (
            f"No Herald database in {settings.data_dir} (from {settings.data_dir_source}). Set HERALD_DATA_DIR to the "
            "directory the server uses (it says which on start), or start `herald serve` once to create it."
        )
    return None


def _open(settings: Settings) -> Any:
    from server.migrate import upgrade
    from server.runtime import build_runtime

    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    return rt


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned table for people (``--json`` is for programs)."""
    cells = [[str(c).upper() for c in columns]] + [
        ["" if row[c] is None else str(row[c]) for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells)


def call(args: argparse.Namespace, tool: str, arguments: dict[str, Any]) -> tuple[int, Any]:
    """Run one registered operation through the same pipeline as the doors, as the operator of this database."""
    import anyio

    from server.context import Principal
    from server.dispatch import error_body, execute
    from server.errors import HeraldError
    from server.keys.service import DEFAULT_WORKSPACE
    from server.models import Workspace

    settings = _settings(args)
    _say_storage(settings)
    missing = missing_database(settings)
    if missing:
        print(f"herald: {missing}", file=sys.stderr)
        return NOT_FOUND, None
    rt = _open(settings)
    workspace = args.workspace or DEFAULT_WORKSPACE
    sender = None
    if not settings.embedded:
        from tasks.worker import DeliveryWorker

        sender = DeliveryWorker(rt, consume=False)  # attaches the Redis queue, so a replay is sent at once
    try:
        from server.db import session_scope

        with session_scope(rt.engine) as session:
            known = session.get(Workspace, workspace) is not None
        if not known:
            print(
                f"herald: no workspace {workspace} in this database ({settings.describe_storage()}).", file=sys.stderr
            )
            return NOT_FOUND, None
        principal = Principal(workspace_id=workspace, key_id="cli", name="herald CLI")
        arguments = {k: v for k, v in arguments.items() if v is not None}
        try:
            result = anyio.run(lambda: execute(rt, principal, tool, arguments))
        except HeraldError as exc:
            body = error_body(exc)
            if args.json:
                print(json.dumps(body.wire(), indent=2))
            else:
                field = f" (field {body.field})" if body.field else ""
                print(f"{body.code}{field}: {body.message} {body.remediation}".rstrip(), file=sys.stderr)
            return _ERROR_EXITS.get(body.code, REFUSED), None
    finally:
        if sender is not None:
            sender.broker.close()
        rt.close()
    if args.json:
        print(json.dumps(result.wire(), indent=2))
        return OK, None
    return OK, result


def _empty(what: str, rows: Sequence[Any]) -> bool:
    if not rows:
        print(f"No {what}.", file=sys.stderr)
    return not rows


def targets_list(args: argparse.Namespace) -> int:
    code, result = call(
        args, "list_distribution_targets", {"channel": args.channel, "label": args.label, "limit": args.limit}
    )
    if result is not None and not _empty("targets", result.items):
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "channel": t.channel.value,
                "labels": ",".join(t.labels),
                "state": "paused" if t.paused_until else ("active" if t.active else "inactive"),
                "circuit": t.circuit.state,
            }
            for t in result.items
        ]
        print(table(rows, ["id", "name", "channel", "labels", "state", "circuit"]))
    return code


def _plan_row(plan: Any) -> dict[str, Any]:
    c = plan.counts
    return {
        "id": plan.id,
        "status": plan.status.value,
        "delivered": f"{c.delivered}/{c.total}",
        "failed": c.failed + c.dead,
        "created": f"{plan.created_at:%Y-%m-%d %H:%M:%S}",
    }


def plans_list(args: argparse.Namespace) -> int:
    code, result = call(args, "list_distribution_plans", {"status": args.status, "limit": args.limit})
    if result is not None and not _empty("plans", result.items):
        rows = [{**_plan_row(p), "content": f"{p.content_id}@{p.content_version}"} for p in result.items]
        print(table(rows, ["id", "status", "delivered", "failed", "created", "content"]))
    return code


def plans_show(args: argparse.Namespace) -> int:
    code, result = call(args, "get_distribution_plan", {"id": args.id})
    if result is not None:
        plan = result.plan
        print(table([_plan_row(plan)], ["id", "status", "delivered", "failed", "created"]))
        print()
        rows = [
            {
                "job": j.id,
                "target": j.target_name or j.target_id,
                "status": j.status.value,
                "attempts": j.attempts,
                "detail": j.held_reason or j.last_error or j.skip_reason or (j.receipt.id if j.receipt else ""),
            }
            for j in plan.jobs
        ]
        print(table(rows, ["job", "target", "status", "attempts", "detail"]))
        print(f"\nnext: {result.recommended_next_action.reason}")
    return code


def dead_letters_list(args: argparse.Namespace) -> int:
    arguments = {"planId": args.plan, "targetId": args.target, "errorClass": args.error_class, "limit": args.limit}
    code, result = call(args, "list_dead_letters", arguments)
    if result is not None and not _empty("dead letters", result.items):
        rows = [
            {
                "id": d.id,
                "job": d.job_id,
                "plan": d.plan_id,
                "target": d.target_id,
                "class": d.error_class.value,
                "attempts": d.attempts,
                "error": d.error,
            }
            for d in result.items
        ]
        print(table(rows, ["id", "job", "plan", "target", "class", "attempts", "error"]))
    return code


def dead_letters_replay(args: argparse.Namespace) -> int:
    if not (args.plan or args.target or args.job_id or args.all):
        print("herald dead-letters replay: name --plan, --target or --job-id (or --all).", file=sys.stderr)
        return USAGE
    arguments = {
        "planId": args.plan,
        "targetId": args.target,
        "jobIds": args.job_id or None,
        "dryRun": args.dry_run,
        "limit": args.limit,
    }
    code, result = call(args, "replay_dead_letters", arguments)
    if result is not None:
        verb = "Would replay" if result.dry_run else "Replayed"
        print(f"{verb} {len(result.job_ids)} job(s) of {len(result.plan_ids)} plan(s).")
        for job_id in result.job_ids:
            print(job_id)
    return code


class HELP_FORMAT(argparse.HelpFormatter):
    """Every option's help says its default: its own words when it has none to show, else the value or "off"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.default is False:
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def _add(commands: Any, name: str, help: str, run: Any, description: str | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description or help, formatter_class=HELP_FORMAT
    )
    p.set_defaults(run=run)
    return p


def _operator_options(p: argparse.ArgumentParser, *, limit: bool = True) -> None:
    p.add_argument("--workspace", default=None, help="Workspace to act in (default: ws_default).")
    p.add_argument("--json", action="store_true", help="Print the operation's result as JSON (camelCase, as on MCP).")
    if limit:
        p.add_argument("--limit", type=int, default=50, help="At most this many rows (1 to 100).")


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(
        prog="herald",
        formatter_class=HELP_FORMAT,
        description="Herald distribution orchestrator. Every setting is an environment variable HERALD_<NAME>; "
        "commands that open the database say which data directory and database they use.",
        epilog="Exit codes: 0 done, 1 unexpected failure, 2 bad usage or input, 3 not found, 4 not allowed, "
        "5 refused (the message says why).",
    )
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _add(commands, "serve", "Run the server (GraphQL, MCP, embedded worker unless --no-worker).", serve)
    p.add_argument("--host", help=f"Address to bind (default: HERALD_HOST, else {defaults['host'].default}).")
    p.add_argument("--port", type=int, help=f"Port to bind (default: HERALD_PORT, else {defaults['port'].default}).")
    p.add_argument("--no-worker", action="store_true", help=NO_WORKER_HELP)
    p.add_argument(
        "--dev",
        action="store_true",
        help="Development: let deliveries reach loopback receivers (as HERALD_DEV=true); refused unless bound to "
        "a loopback address.",
    )
    _add(
        commands,
        "worker",
        "Run a delivery worker; needs HERALD_REDIS_URL (and the server's HERALD_DATABASE_URL and HERALD_SECRET_KEYS).",
        worker,
        description="Run a delivery worker. Needs HERALD_REDIS_URL (the broker), the same HERALD_DATABASE_URL and "
        "HERALD_SECRET_KEYS as the server; without Redis, `herald serve` delivers in process. With "
        "HERALD_WORKER_METRICS_PORT it serves its Prometheus metrics on that port (/metrics, bound to HERALD_HOST).",
    )
    _add(commands, "migrate", "Apply database migrations (run it before rolling servers and workers).", migrate)
    p = _add(commands, "makemigration", "Autogenerate a migration against the models (developers).", makemigration)
    p.add_argument("message", help="What the migration changes.")
    p = _add(commands, "mcp", "Serve MCP over stdio (authenticated by HERALD_API_KEY).", mcp_stdio)
    p.add_argument("--no-worker", action="store_true", help=NO_WORKER_HELP)

    keys = _add(commands, "keys", "Manage API keys.", None).add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    p = _add(keys, "create", "Create an API key and print it once.", keys_create)
    p.add_argument("--name", required=True, help="A name to recognise the key by.")
    p.add_argument("--workspace", help="Workspace of the key (default: ws_default).")
    p.add_argument("--scopes", help="Comma-separated: read,write,deliver,admin (default: all).")
    p.add_argument("--read-only", action="store_true", help="Refuse every mutation except dry runs.")
    p = _add(keys, "list", "List API keys (never their secrets).", keys_list)
    p.add_argument("--workspace", help="Only keys of this workspace (default: every workspace).")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    p = _add(keys, "revoke", "Revoke an API key.", keys_revoke)
    p.add_argument("id", help="The key id (key_…).")

    targets = _add(commands, "targets", "Read distribution targets.", None).add_subparsers(
        dest="targets_command", required=True, metavar="ACTION"
    )
    p = _add(targets, "list", "List targets (list_distribution_targets).", targets_list)
    p.add_argument("--channel", help="Only targets of this channel (webhook, http, stub, …).")
    p.add_argument("--label", help="Only targets carrying this label.")
    _operator_options(p)

    plans_cmd = _add(commands, "plans", "Read distribution plans.", None).add_subparsers(
        dest="plans_command", required=True, metavar="ACTION"
    )
    p = _add(plans_cmd, "list", "List plans, newest first (list_distribution_plans).", plans_list)
    p.add_argument("--status", help="Only plans in this status (pending, running, succeeded, partial, …).")
    _operator_options(p)
    p = _add(plans_cmd, "show", "Show one plan and its jobs (get_distribution_plan).", plans_show)
    p.add_argument("id", help="The plan id (pln_…).")
    _operator_options(p, limit=False)

    dead = _add(commands, "dead-letters", "Read and replay dead letters.", None).add_subparsers(
        dest="dead_letters_command", required=True, metavar="ACTION"
    )
    p = _add(dead, "list", "List dead letters, newest first (list_dead_letters).", dead_letters_list)
    p.add_argument("--plan", help="Only dead letters of this plan (pln_…).")
    p.add_argument("--target", help="Only dead letters of this target (tgt_…).")
    p.add_argument("--error-class", help="Only this error class (transient, rate_limited, permanent, systemic).")
    _operator_options(p)
    p = _add(dead, "replay", "Queue dead-lettered jobs again (replay_dead_letters, audited).", dead_letters_replay)
    p.add_argument("--plan", help="Replay the dead letters of this plan (pln_…).")
    p.add_argument("--target", help="Replay the dead letters of this target (tgt_…).")
    p.add_argument("--job-id", action="append", help="Replay this job (job_…); repeat for more.")
    p.add_argument("--all", action="store_true", help="Replay every dead letter (up to --limit).")
    p.add_argument("--dry-run", action="store_true", help="Show what would be replayed; change nothing.")
    _operator_options(p, limit=False)
    p.add_argument("--limit", type=int, default=100, help="Replay at most this many, oldest first (1 to 100).")

    secrets = _add(commands, "secrets", "Manage credential encryption.", None).add_subparsers(
        dest="secrets_command", required=True, metavar="ACTION"
    )
    _add(secrets, "rotate", "Re-encrypt every stored secret under the newest key.", secrets_rotate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
