"""The ``actiepunten`` command: run the whole system, serve one service, or run a local broker."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from servicekit.datadir import private_dir
from servicekit.services import SERVICES, STORES
from servicekit.settings import Settings

if TYPE_CHECKING:
    from servicekit.auth import Role


def _data_dir() -> Path:
    return Path(os.environ.get("ACTIEPUNTEN_DATA_DIR", ".data")).resolve()


def jwt_secret(data_dir: Path) -> str:
    """``ACTIEPUNTEN_JWT_SECRET`` when set, else one made once and kept in the data dir.

    The file is only ever readable by its owner: the secret is written to a temporary file
    created with mode 0600 and linked into place, which fails if another ``make run`` got there
    first (then both use that one), so nobody ever reads a half-written or replaced secret.
    """
    secret = os.environ.get("ACTIEPUNTEN_JWT_SECRET")
    if secret:
        return secret
    path = data_dir / "jwt-secret"
    if not path.exists():
        private_dir(data_dir)
        made = secrets.token_urlsafe(32)
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".jwt-secret-")  # 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(made)
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another `make run` made it first: use that one
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # left readable by an older version
    return path.read_text().strip()


def serve(service: str) -> None:
    """Run one service in the foreground, as a deployment does."""
    module = __import__(SERVICES[service].main, fromlist=["main"])
    module.main()


def start_service(service: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    private_dir(log_dir)
    log = (log_dir / f"{service}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "actiepunten", "serve", service],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f}s")


DEMO_DOCUMENT_TYPES = Path(__file__).parent / "demo" / "document_types.json"
"""The demo office's document types: the HDN's usual validity windows, as examples (an office
sets its own through ``PUT /document-types/{code}``)."""


def _call(method: str, url: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def seed_document_types(
    dossiercontrole_url: str, admin_token: str, path: Path = DEMO_DOCUMENT_TYPES
) -> list[str]:
    """Put the example document types the office does not have yet, as its admin would;
    returns the codes put. A type the office has already is left as the admin set it."""
    configured: set[str] = set()
    query = ""
    while True:
        page = _call("GET", f"{dossiercontrole_url}/document-types{query}", admin_token)
        configured |= {t["code"] for t in page["document_types"]}
        if not page.get("next_cursor"):
            break
        query = "?" + urllib.parse.urlencode({"cursor": page["next_cursor"]})
    examples: dict[str, Any] = json.loads(path.read_text())
    put = []
    for code, settings in examples.items():
        if code not in configured:
            _call("PUT", f"{dossiercontrole_url}/document-types/{code}", admin_token, settings)
            put.append(code)
    return put


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    # Each service exits within its grace period (ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS).
    any_service = next(iter(SERVICES))  # the grace period is the same for every service
    grace = Settings.from_env(any_service, require_secret=False).shutdown_grace_seconds + 5
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def local_tooling() -> ModuleType:
    """``devtools`` (the local brokers): in a source checkout, not in the image."""
    try:
        import devtools
    except ImportError:
        raise SystemExit(
            "a local Kafka needs the devtools package of a source checkout (`make run`); the "
            "image has none: set KAFKA_BOOTSTRAP_SERVERS and use `actiepunten serve`"
        ) from None
    return devtools


def run() -> None:
    """The whole system on one machine: a broker, a mail server, the services, URLs and tokens."""
    devtools = local_tooling()
    data_dir = _data_dir()
    try:
        broker = devtools.provide_broker(data_dir)
    except devtools.PortInUse as error:
        raise SystemExit(str(error)) from None
    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        asyncio.run(devtools.create_topics(broker.bootstrap_servers))
        if broker.kind != "external":
            asyncio.run(devtools.align_topic_configs(broker.bootstrap_servers))
        secret = jwt_secret(data_dir)
        mail = start_mail_server()
        env = {
            **os.environ,
            **mail.env,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "ACTIEPUNTEN_KAFKA_IDEMPOTENCE": "true" if broker.supports_idempotence else "false",
            "ACTIEPUNTEN_JWT_SECRET": secret,
            "ACTIEPUNTEN_DATA_DIR": str(data_dir),
        }
        urls = start_services(env, data_dir / "logs", processes)
        print(f"Kafka ({broker.kind}) on {broker.bootstrap_servers}")
        print(mail.description)
        print_access(urls, secret)
        print(f"\nLogs in {data_dir / 'logs'}. Ctrl-C stops everything.", flush=True)
        while not stopping:
            for service, process in zip(SERVICES, processes, strict=True):
                if process.poll() is not None:
                    print(f"{service} exited with {process.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("Stopping...", flush=True)
        stop_processes(processes)
        broker.stop()
        if mail.server is not None:
            mail.server.stop()


@dataclass
class MailServer:
    """Where `actiepunten run` sends mail: the SMTP settings for the services, a line saying
    where to read the mails, and the Mailpit it started (None: a server given by the caller)."""

    env: dict[str, str]
    description: str
    server: Any = None


def start_mail_server() -> MailServer:
    """Mailpit on 1025 (web UI and API on 8025) unless ``ACTIEPUNTEN_SMTP_HOST`` names one."""
    host = os.environ.get("ACTIEPUNTEN_SMTP_HOST")
    if host:
        port = os.environ.get("ACTIEPUNTEN_SMTP_PORT", "25")
        return MailServer({}, f"Mail goes to the SMTP server {host}:{port}")
    from devtools.mail import start_mailpit

    mailpit = start_mailpit(1025, 8025)
    if mailpit is None:
        raise SystemExit("make run needs Go to build Mailpit, or ACTIEPUNTEN_SMTP_HOST set")
    env = {"ACTIEPUNTEN_SMTP_HOST": "127.0.0.1", "ACTIEPUNTEN_SMTP_PORT": "1025"}
    return MailServer(
        env, f"Mail (Mailpit): SMTP 127.0.0.1:1025, read it at {mailpit.url}", mailpit
    )


def start_services(
    env: dict[str, str], log_dir: Path, processes: list[subprocess.Popen[bytes]]
) -> dict[str, str]:
    """Start every service of the registry (appended to ``processes`` as they start) and wait
    until each is healthy; returns their URLs."""
    urls = {}
    for service in SERVICES:
        port = Settings.from_env(service, require_secret=False).port
        urls[service] = f"http://127.0.0.1:{port}"
        processes.append(start_service(service, env, log_dir))
    for url, process in zip(urls.values(), processes, strict=True):
        wait_healthy(url, process)
    return urls


def print_access(urls: dict[str, str], secret: str) -> None:
    """The services' URLs, a token per role of the office ``kantoor-1``, a sign-in link each."""
    from servicekit.auth import issue_token

    for service, url in urls.items():
        print(f"{service:16} {url}  (API docs {url}/docs)")
    tenant = "kantoor-1"
    admin = issue_token(secret, sub="admin-1", tenant=tenant, role="admin")
    adviser = issue_token(secret, sub="adviseur-1", tenant=tenant, role="adviser")
    client = issue_token(
        secret, sub="klant-1", tenant=tenant, role="client", dossiers=["dossier-1"]
    )
    try:
        seeded = seed_document_types(urls["dossiercontrole"], admin)
    except (OSError, ValueError, KeyError) as error:  # the demo runs on without them
        print(f"Could not put the example document types: {error}", file=sys.stderr)
    else:
        if seeded:
            print(f"Example document types put for {tenant!r}: {', '.join(seeded)}")
    print(f"\nTokens for office {tenant!r} (valid 12 hours):")
    print(f"admin   {admin}")
    print(f"adviser {adviser}")
    print(f"client  {client}  (dossier 'dossier-1')")
    print("\nWeb pages (one-time sign-in links, 15 minutes; `actiepunten signin-link` makes more):")
    for role, sub, dossiers in DEMO_PEOPLE:
        link = signin_link(tenant, role, sub, dossiers, urls["portal"])
        print(f"{role:7} {link}")


DEMO_PEOPLE = (
    ("admin", "admin-1", None),
    ("adviser", "adviseur-1", None),
    ("client", "klant-1", ["dossier-1"]),
)
"""Whom `make run` prints a sign-in link for: the people of its tokens."""


def signin_link(
    office: str,
    role: str,
    sub: str,
    dossiers: list[str] | None,
    portal: str | None = None,
    email: str | None = None,
) -> str:
    """A one-time confirm link into the running system's portal (its store, its settings)."""
    from servicekit.mail import portal_url
    from servicekit.settings import Settings
    from services.portal_projection.signins import Person, signin_link

    named = None if dossiers is None else tuple(dossiers)
    person = Person(office, cast("Role", role), sub, email=email, dossiers=named)
    settings = Settings.from_env("portal", require_secret=False)
    return signin_link(settings, person, portal or portal_url())


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "run":
        run()
    elif args.command == "serve":
        serve(args.service)
    elif args.command == "broker":
        local_tooling().serve_forever(_data_dir())
    elif args.command == "signin-link":
        print(signin_link(args.office, args.role, args.sub, args.dossier or None, email=args.email))
    else:
        _operations(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actiepunten", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="the whole system on this machine (what `make run` does)")
    serve_parser = commands.add_parser("serve", help="one service, as a deployment runs it")
    serve_parser.add_argument("service", choices=sorted(SERVICES))
    commands.add_parser("broker", help="only the local Kafka broker, with the topics")
    _signin_link_command(commands.add_parser("signin-link", help="a one-time sign-in link"))

    replay = commands.add_parser("replay", help="rebuild a read model from the topics")
    replay.add_argument("model", choices=["portal"])
    republish = commands.add_parser("republish", help="re-emit a service's integration events")
    republish.add_argument("service", choices=STORES)
    republish.add_argument(
        "--from",
        dest="start",
        type=int,
        default=1,
        help="first notification id to re-emit (default 1: all)",
    )
    dossier = commands.add_parser("dossier", help="a dossier's audit trail")
    dossier_commands = dossier.add_subparsers(dest="dossier_command", required=True)
    history = dossier_commands.add_parser("history", help="what happened, who did it, when")
    history.add_argument("dossier_id")
    history.add_argument(
        "--tenant", required=True, type=_office, help="the office (tenant) of the dossier"
    )
    history.add_argument(
        "--at",
        type=_moment,
        default=None,
        help="show the dossier check as it was at this ISO 8601 moment",
    )
    _evidence_commands(commands.add_parser("evidence", help="a dossier's evidence pack"))
    _dlq_commands(commands.add_parser("dlq", help="dead letters"))
    keys = commands.add_parser("keys", help="the dossiers' data keys and their KEK")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("new-kek", help="print a line with a new KEK, for the KEK file")
    keys_commands.add_parser("rewrap", help="wrap every data key with the KEK file's last KEK")
    old = keys_commands.add_parser(
        "seal-old-data",
        help="seal the personal fields stored in plain text before sealing (run once, with the "
        "dossier check stopped)",
    )
    old.add_argument("--dry-run", action="store_true", help="only count what it would seal")
    return parser


def _signin_link_command(link: argparse.ArgumentParser) -> None:
    link.add_argument("--office", required=True, type=_office, help="the office (tenant)")
    link.add_argument("--role", required=True, choices=["adviser", "admin", "client"])
    link.add_argument("--sub", required=True, help="who signs in (the token's sub)")
    link.add_argument(
        "--dossier", action="append", help="a client's dossier (repeat); none: by --email"
    )
    link.add_argument("--email", help="a client's address: the dossiers where it is a contact")


def _evidence_commands(evidence: argparse.ArgumentParser) -> None:
    verify = evidence.add_subparsers(dest="evidence_command", required=True).add_parser(
        "verify", help="check a pack's files and chain, and the chain against a running system"
    )
    verify.add_argument("pack", type=Path, help="the ZIP of GET /dossiers/{id}/evidence")
    port = SERVICES["dossiercontrole"].port
    verify.add_argument(
        "--url",
        default=os.environ.get("ACTIEPUNTEN_DOSSIERCONTROLE_URL", f"http://127.0.0.1:{port}"),
        help="the dossier-check service (default: ACTIEPUNTEN_DOSSIERCONTROLE_URL or local)",
    )
    verify.add_argument(
        "--token",
        default=os.environ.get("ACTIEPUNTEN_TOKEN"),
        help="an adviser's or admin's token of the office (default: ACTIEPUNTEN_TOKEN)",
    )
    verify.add_argument(
        "--offline", action="store_true", help="check only the pack itself, not the system"
    )


def _verify_evidence(args: argparse.Namespace) -> None:
    from actiepunten import evidence

    ask = None if args.offline else evidence.asking(args.url, args.token)
    verdict = evidence.verify(args.pack, ask)
    print("\n".join(verdict.lines))
    if not verdict.holds:
        raise SystemExit(f"the pack does not verify: {len(verdict.failures)} failed")
    print("the pack verifies")


def _dlq_commands(dlq: argparse.ArgumentParser) -> None:
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (("list", "list dead letters"), ("retry", "send them back to their topic")):
        sub = dlq_commands.add_parser(name, help=text)
        sub.add_argument(
            "service",
            nargs="?",
            default="all",
            choices=["all", *SERVICES],
        )
        if name == "retry":
            sub.add_argument(
                "--again",
                action="store_true",
                help="also letters of records that failed again after a retry",
            )


def _keys(args: argparse.Namespace) -> None:
    """Rotation (SPEC section 11): append ``new-kek``'s line to ``ACTIEPUNTEN_KEK_FILE``,
    restart the dossier check, run ``rewrap``, then remove the old line. ``seal-old-data``:
    once after the upgrade that sealed personal fields."""
    from servicekit.crypto import KeyEncryptionKeys
    from services.dossiercontrole_service import settings
    from services.dossiercontrole_service.data_keys import data_keys

    if args.keys_command == "new-kek":
        print(KeyEncryptionKeys.new_line(), end="")
        return
    if args.keys_command == "seal-old-data":
        from actiepunten.ops import open_store
        from services.dossiercontrole_service.old_data import seal_old_data

        app, _, _ = open_store("dossiercontrole")
        try:
            sealed = seal_old_data(app, dry_run=args.dry_run)  # type: ignore[arg-type]
        finally:
            app.close()
        print(("would seal: " if args.dry_run else "sealed: ") + str(sealed))
        return
    keys = data_keys(settings.load())
    print(f"rewrapped {keys.rewrap()} data keys with KEK {keys.keks.current}")


def _office(text: str) -> str:
    from shared.events.contracts import tenant_problem

    problem = tenant_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"an office id {problem}")
    return text


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _operations(args: argparse.Namespace) -> None:
    from servicekit.kafka import UnknownTopic

    try:
        _operation(args)
    except UnknownTopic as error:
        raise SystemExit(str(error)) from None


def _operation(args: argparse.Namespace) -> None:
    from actiepunten import ops

    if args.command == "replay":
        asyncio.run(ops.replay_portal())
    elif args.command == "republish":
        asyncio.run(ops.republish(args.service, args.start))
    elif args.command == "dossier":
        print("\n".join(ops.dossier_history(args.tenant, args.dossier_id, args.at)))
    elif args.command == "keys":
        _keys(args)
    elif args.command == "evidence":
        _verify_evidence(args)
    elif args.command == "dlq":
        services = list(SERVICES) if args.service == "all" else [args.service]
        for service in services:
            if args.dlq_command == "list":
                asyncio.run(ops.dlq_list(service))
            else:
                asyncio.run(ops.dlq_retry(service, again=args.again))
