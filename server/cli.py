"""The `herald` command: serve, worker, migrate, mcp (stdio), keys."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from server.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v for k, v in {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}.items() if v
    }
    return Settings(**overrides)


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    settings = _settings(args)
    _logging(settings)
    app = create_app(settings, worker=not args.no_worker)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), lifespan="on")
    return 0


def worker(args: argparse.Namespace) -> int:
    from server.migrate import upgrade
    from server.runtime import build_runtime
    from tasks.worker import DeliveryWorker

    settings = _settings(args)
    _logging(settings)
    if settings.embedded:
        print(
            "herald worker needs HERALD_REDIS_URL; without Redis, `herald serve` delivers in process.", file=sys.stderr
        )
        return 2
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    delivery = DeliveryWorker(rt)
    delivery.start()
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    delivery.stop()
    rt.close()
    return 0


def migrate(args: argparse.Namespace) -> int:
    from server.db import make_engine
    from server.migrate import upgrade

    settings = _settings(args)
    _logging(settings)
    upgrade(make_engine(settings))
    print("database is at the latest migration")
    return 0


def mcp_stdio(args: argparse.Namespace) -> int:
    from mcp_tools.stdio import run_stdio

    settings = _settings(args)
    _logging(settings)
    return run_stdio(settings, worker=not args.no_worker)


def keys_create(args: argparse.Namespace) -> int:
    from server.keys.service import ALL_SCOPES, DEFAULT_WORKSPACE, create_key
    from server.migrate import upgrade
    from server.runtime import build_runtime

    settings = _settings(args)
    rt = build_runtime(settings)
    if settings.auto_migrate:
        upgrade(rt.engine)
    scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip()) if args.scopes else ALL_SCOPES
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        print(f"Unknown scope(s) {sorted(unknown)}; choose from {', '.join(ALL_SCOPES)}.", file=sys.stderr)
        return 2
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
    from server.runtime import build_runtime

    rt = build_runtime(_settings(args))
    with session_scope(rt.engine) as session:
        query = select(ApiKey).order_by(ApiKey.id)
        if args.workspace:
            query = query.where(ApiKey.workspace_id == args.workspace)
        for key in session.exec(query).all():
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            print(
                f"{key.id}  {key.workspace_id}  {key.prefix}…  {','.join(key.scopes)}"
                f"{' read-only' if key.read_only else ''}  {state}  {key.name}"
            )
    rt.close()
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from server.db import session_scope
    from server.models import ApiKey
    from server.models.base import utcnow
    from server.runtime import build_runtime

    rt = build_runtime(_settings(args))
    with session_scope(rt.engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.id == args.id)).first()
        if key is None:
            print(f"No API key {args.id}.", file=sys.stderr)
            return 2
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
        return 2
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Herald distribution orchestrator.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve", help="Run the server (GraphQL, MCP, embedded worker unless --no-worker).")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--no-worker", action="store_true", help="Do not deliver in this process.")
    p.set_defaults(run=serve)
    commands.add_parser("worker", help="Run a delivery worker (needs HERALD_REDIS_URL).").set_defaults(run=worker)
    commands.add_parser("migrate", help="Apply database migrations.").set_defaults(run=migrate)
    p = commands.add_parser("makemigration", help="Autogenerate a migration against the models (developers).")
    p.add_argument("message")
    p.set_defaults(run=makemigration)
    p = commands.add_parser("mcp", help="Serve MCP over stdio (authenticated by HERALD_API_KEY).")
    p.add_argument("--no-worker", action="store_true")
    p.set_defaults(run=mcp_stdio)
    keys = commands.add_parser("keys", help="Manage API keys.").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("create", help="Create an API key and print it once.")
    p.add_argument("--name", required=True)
    p.add_argument("--workspace")
    p.add_argument("--scopes", help="Comma-separated: read,write,deliver,admin (default: all).")
    p.add_argument("--read-only", action="store_true", help="Refuse every mutation except dry runs.")
    p.set_defaults(run=keys_create)
    p = keys.add_parser("list", help="List API keys (never their secrets).")
    p.add_argument("--workspace")
    p.set_defaults(run=keys_list)
    p = keys.add_parser("revoke", help="Revoke an API key.")
    p.add_argument("id")
    p.set_defaults(run=keys_revoke)
    secrets = commands.add_parser("secrets", help="Manage credential encryption.").add_subparsers(
        dest="secrets_command", required=True
    )
    secrets.add_parser("rotate", help="Re-encrypt every stored secret under the newest key.").set_defaults(
        run=secrets_rotate
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
