"""Helpers for the webhook tests (no tests here): a real HTTP receiver on loopback, alert rows
written straight into the ``alerts`` table, and a clock the tests move by hand."""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from clickhouse_connect.driver.client import Client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from detectors.delivery.signing import generate_secret
from detectors.delivery.subscriptions import Filters, Subscription, save_subscription
from fleetwatch.config import Settings


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1. Replies come from ``script[path]`` in order (then 200)."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI seen
    in_flight: int = 0
    most_in_flight: int = 0

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def on(self, path: str, *replies: Reply) -> None:
        with self.lock:
            self.script.setdefault(path, []).extend(replies)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def _next_reply(self, path: str) -> Reply:
        with self.lock:
            queue = self.script.get(path, [])
            return queue.pop(0) if queue else Reply()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        body = handler.rfile.read(length)
        with self.lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.received.append(Received(handler.path, headers, body))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        reply = self._next_reply(handler.path)
        time.sleep(reply.delay_seconds)
        with self.lock:
            self.in_flight -= 1
        handler.send_response(reply.status)
        for name, value in reply.headers:
            handler.send_header(name, value)
        handler.send_header("content-length", "0")
        handler.end_headers()


def start_receiver(tls: ssl.SSLContext | None = None) -> Receiver:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            receiver.handle(self)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        def remember_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            receiver.server_names.append(name)

        tls.sni_callback = remember_sni
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    receiver = start_receiver(tls)
    yield receiver
    assert receiver.server is not None
    receiver.server.shutdown()
    receiver.server.server_close()


class ManualClock:
    """Starts at the real time (receivers check webhook-timestamp against it) and moves only
    when told, so retry schedules are tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast_settings(settings: Settings, **overrides: object) -> Settings:
    """Loopback receivers allowed, short timeouts and delays."""
    values: dict[str, object] = {
        "webhook_allow_private_targets": True,
        "webhook_timeout_seconds": 2.0,
        "webhook_retry_base_seconds": 10.0,
        "webhook_retry_max_seconds": 600.0,
        "webhook_max_attempts": 5,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


_ALERT_COLUMNS = (
    "AlertId", "Version", "Detector", "Severity", "Status", "TenantId", "Agents", "Principals",
    "WindowStart", "WindowEnd", "FirstSeen", "UpdatedAt", "Score", "Title", "Explanation",
    "EvidenceTraceIds", "EvidenceSpanIds", "Labels",
)


def insert_alert(
    ch: Client,
    *,
    alert_id: str | None = None,
    version: int = 1,
    detector: str = "loop",
    severity: str = "high",
    status: str = "firing",
    tenant: str = "acme",
    agents: tuple[str, ...] = ("ash", "flux"),
    updated_at: datetime | None = None,
) -> str:
    """Write one alert version the way the detectors engine does; returns its AlertId."""
    alert_id = alert_id or f"al_{uuid.uuid4().hex[:10]}"
    now = updated_at or datetime.now(UTC)
    row = [
        alert_id, version, detector, severity, status, tenant, list(agents), ["alice"],
        now, now, now, now, 0.93, f"{detector} between agents", "ash and flux repeat a turn",
        ["trace1"], ["span1"], {"team": "blue"},
    ]
    ch.insert("alerts", [row], column_names=_ALERT_COLUMNS)
    return alert_id


def subscribe(
    ch: Client,
    url: str,
    *,
    name: str = "ops",
    payload_format: str = "fleetwatch",
    filters: Filters | None = None,
    secrets: tuple[SecretStr, ...] | None = None,
) -> Subscription:
    return save_subscription(ch, Subscription(
        subscription_id=f"sub_{uuid.uuid4().hex[:8]}", name=name, url=url,
        secrets=secrets or (generate_secret(),), payload_format=payload_format,
        filters=filters or Filters(),
        created_at=datetime.now(UTC).replace(microsecond=0),
    ))


def make_tls_pair(tmp: Path, server_name: str) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM file, for ``webhook_ca_file``) and a server TLS context whose
    certificate names only ``server_name`` (DNS), no IP address."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetwatch test CA")])
    ca = (_cert_builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (_cert_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]),
                          ca_name, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


def _cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1)))
