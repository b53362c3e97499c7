"""A stand-in Grafana HTTP API, and tests that it is as strict as the real one.

No Grafana server can run on these machines, so this is the one fake in fleetwatch's tests. It
serves the endpoints fleetwatch calls on 127.0.0.1 (port 0), checks method, path, auth header
and body the way Grafana's HTTP API does (/api/folders, /api/datasources,
/api/datasources/uid/..., /api/dashboards/db with {dashboard, folderUid, overwrite},
/api/annotations with time/timeEnd/tags/text/dashboardUID), answers malformed requests with
Grafana's status codes (400 bad data, 401, 404, 409 conflicts, 412 version mismatch) and keeps
state, so tests can assert idempotency. Other test modules import ``FakeGrafana`` from here.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

TOKEN = "glsa_test_token"
BASIC = ("admin", "s3cret")
_UID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")

Reply = tuple[int, Any]


class FakeGrafana:
    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.annotations: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.outage = False  # answer everything with 503, like Grafana behind a proxy mid-restart
        self.refuse_next_annotation = False  # answer the next annotation write with 400
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGrafana:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method != "GET"]

    # --- dispatch ------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        with self._lock:
            self.requests.append((method, path))
            if self.outage:
                return 503, {"message": "Service Unavailable"}
            if not self._authorised(headers.get("authorization", "")):
                return 401, {"message": "Unauthorized"}
            body = None
            if method in ("POST", "PUT", "PATCH"):
                body = _json_object(headers, raw)
                if body is None:
                    return 400, {"message": "bad request data"}
            return self._route(method, path, query, body)

    def _authorised(self, header: str) -> bool:
        basic = base64.b64encode(":".join(BASIC).encode()).decode()
        return header in (f"Bearer {TOKEN}", f"Basic {basic}")

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/api/folders/([^/]+)", self._get_folder),
            ("POST", r"/api/folders", self._create_folder),
            ("PUT", r"/api/folders/([^/]+)", self._update_folder),
            ("GET", r"/api/datasources/uid/([^/]+)", self._get_datasource),
            ("POST", r"/api/datasources", self._create_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self._update_datasource),
            ("GET", r"/api/dashboards/uid/([^/]+)", self._get_dashboard),
            ("POST", r"/api/dashboards/db", self._save_dashboard),
            ("GET", r"/api/annotations", self._find_annotations),
            ("POST", r"/api/annotations", self._create_annotation),
            ("PUT", r"/api/annotations/(\d+)", self._update_annotation),
        ]
        known_path = False
        for verb, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if match:
                known_path = True
                if verb == method:
                    args = [*match.groups(), body] if method != "GET" else [*match.groups(), query]
                    return action(*args)
        return (405, {"message": "Method Not Allowed"}) if known_path else (404, {"message": "Not found"})

    # --- folders -------------------------------------------------------------------------
    def _get_folder(self, uid: str, _: Any) -> Reply:
        folder = self.folders.get(uid)
        return (200, folder) if folder else (404, {"message": "folder not found", "status": "not-found"})

    def _create_folder(self, body: dict[str, Any]) -> Reply:
        title, uid = body.get("title"), body.get("uid") or f"auto{next(self._ids)}"
        if not isinstance(title, str) or not title.strip():
            return 400, {"message": "folder title cannot be empty"}
        if not _UID.match(uid):
            return 400, {"message": "uid contains illegal characters"}
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(f["title"] == title for f in self.folders.values()):
            return 409, {
                "message": "a folder or dashboard in the same folder with the same name already exists"
            }
        self.folders[uid] = {
            "id": next(self._ids),
            "uid": uid,
            "title": title,
            "version": 1,
            "url": f"/dashboards/f/{uid}",
        }
        return 200, self.folders[uid]

    def _update_folder(self, uid: str, body: dict[str, Any]) -> Reply:
        folder = self.folders.get(uid)
        if folder is None:
            return 404, {"message": "folder not found", "status": "not-found"}
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            return 400, {"message": "folder title cannot be empty"}
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return 412, {
                "message": "the folder has been changed by someone else",
                "status": "version-mismatch",
            }
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder

    # --- datasources ---------------------------------------------------------------------
    def _get_datasource(self, uid: str, _: Any) -> Reply:
        source = self.datasources.get(uid)
        if source is None:
            return 404, {"message": "Data source not found"}
        held = {key: True for key in self.secrets.get(uid, {})}
        return 200, {**source, "secureJsonFields": held}

    def _create_datasource(self, body: dict[str, Any]) -> Reply:
        problem = _datasource_problem(body)
        if problem:
            return 400, {"message": problem}
        uid = body.get("uid") or f"ds{next(self._ids)}"
        if not _UID.match(uid):
            return 400, {"message": "Failed to add datasource: invalid uid"}
        if uid in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        if any(s["name"] == body["name"] for s in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        return 200, self._store_datasource(uid, next(self._ids), body, version=1, message="Datasource added")

    def _update_datasource(self, uid: str, body: dict[str, Any]) -> Reply:
        existing = self.datasources.get(uid)
        if existing is None:
            return 404, {"message": "Data source not found"}
        problem = _datasource_problem(body)
        if problem:
            return 400, {"message": problem}
        if any(s["name"] == body["name"] and k != uid for k, s in self.datasources.items()):
            return 409, {"message": "data source with the same name already exists"}
        if "version" in body and body["version"] != existing["version"]:
            return 409, {"message": "Datasource has already been updated by someone else"}
        return 200, self._store_datasource(
            uid, existing["id"], body, existing["version"] + 1, message="Datasource updated"
        )

    def _store_datasource(
        self, uid: str, id_: int, body: dict[str, Any], version: int, message: str
    ) -> dict[str, Any]:
        self.secrets.setdefault(uid, {}).update(body.get("secureJsonData") or {})
        keys = ("name", "type", "access", "url", "isDefault", "jsonData")
        self.datasources[uid] = {"id": id_, "uid": uid, "version": version, **{k: body.get(k) for k in keys}}
        return {"datasource": self.datasources[uid], "id": id_, "name": body["name"], "message": message}

    # --- dashboards ----------------------------------------------------------------------
    def _get_dashboard(self, uid: str, _: Any) -> Reply:
        saved = self.dashboards.get(uid)
        if saved is None:
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        return 200, {
            "dashboard": saved["dashboard"],
            "meta": {"folderUid": saved["folderUid"], "version": saved["dashboard"]["version"]},
        }

    def _save_dashboard(self, body: dict[str, Any]) -> Reply:
        model, folder = body.get("dashboard"), body.get("folderUid") or ""
        if not isinstance(model, dict):
            return 400, {"message": "bad request data"}
        if not isinstance(model.get("title"), str) or not model["title"].strip():
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        uid = model.get("uid") or f"d{next(self._ids)}"
        if not _UID.match(uid):
            return 400, {"message": "uid contains illegal characters", "status": "bad-request"}
        if folder and folder not in self.folders:
            return 400, {"message": "folder not found", "status": "not-found"}
        existing = self.dashboards.get(uid)
        if model.get("id") is not None and (existing is None or existing["dashboard"]["id"] != model["id"]):
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        if (
            existing
            and not body.get("overwrite")
            and model.get("version") != existing["dashboard"]["version"]
        ):
            return 412, {
                "message": "The dashboard has been changed by someone else",
                "status": "version-mismatch",
            }
        if not body.get("overwrite") and any(
            d["dashboard"]["title"] == model["title"] and d["folderUid"] == folder and k != uid
            for k, d in self.dashboards.items()
        ):
            return 412, {
                "message": "A dashboard with the same name in the folder already exists",
                "status": "name-exists",
            }
        version = existing["dashboard"]["version"] + 1 if existing else 1
        id_ = existing["dashboard"]["id"] if existing else next(self._ids)
        self.dashboards[uid] = {
            "dashboard": {**model, "id": id_, "uid": uid, "version": version},
            "folderUid": folder,
        }
        return 200, {
            "id": id_,
            "uid": uid,
            "url": f"/d/{uid}/x",
            "status": "success",
            "version": version,
            "slug": "x",
        }

    # --- annotations ---------------------------------------------------------------------
    def _find_annotations(self, query: dict[str, list[str]]) -> Reply:
        tags = set(query.get("tags", []))
        limit = int(query.get("limit", ["100"])[0])
        found = [a for a in self.annotations.values() if tags <= set(a["tags"])]
        return 200, sorted(found, key=lambda a: -a["id"])[:limit]

    def _create_annotation(self, body: dict[str, Any]) -> Reply:
        problem = self._annotation_problem(body)
        if problem:
            return problem
        id_ = next(self._ids)
        self.annotations[id_] = {
            "id": id_,
            **_annotation_fields(body),
            "dashboardUID": body.get("dashboardUID") or "",
        }
        return 200, {"message": "Annotation added", "id": id_}

    def _update_annotation(self, id_: str, body: dict[str, Any]) -> Reply:
        if int(id_) not in self.annotations:
            return 404, {"message": "Annotation not found"}
        problem = self._annotation_problem(body)
        if problem:
            return problem
        self.annotations[int(id_)].update(_annotation_fields(body))
        return 200, {"message": "Annotation updated"}

    def _annotation_problem(self, body: dict[str, Any]) -> Reply | None:
        if self.refuse_next_annotation:
            self.refuse_next_annotation = False
            return 400, {"message": "Failed to save annotation"}
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return 400, {"message": "text field should not be empty"}
        time, end = body.get("time"), body.get("timeEnd")
        if not isinstance(time, int) or (end is not None and (not isinstance(end, int) or end < time)):
            return 400, {"message": "bad request data"}
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            return 400, {"message": "bad request data"}
        uid = body.get("dashboardUID")
        if uid and uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        return None


def _datasource_problem(body: dict[str, Any]) -> str | None:
    for field in ("name", "type"):
        if not isinstance(body.get(field), str) or not body[field]:
            return f"Required field {field} missing"
    if body.get("access") not in ("proxy", "direct"):
        return "bad request data: access must be proxy or direct"
    if not isinstance(body.get("jsonData", {}), dict):
        return "bad request data"
    return None


def _annotation_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": body["time"],
        "timeEnd": body.get("timeEnd") or body["time"],
        "tags": list(body.get("tags", [])),
        "text": body["text"],
    }


def _json_object(headers: dict[str, str], raw: bytes) -> dict[str, Any] | None:
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _handler(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply = fake.handle(self.command, self.path, headers, raw)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeGrafana]:
    server = FakeGrafana().start()
    yield server
    server.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_requires_credentials(fake: FakeGrafana) -> None:
    assert httpx.get(f"{fake.url}/api/folders/x").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{fake.url}/api/folders/x", headers=wrong).status_code == 401
    assert httpx.get(f"{fake.url}/api/folders/x", headers=AUTH).status_code == 404
    assert httpx.get(f"{fake.url}/api/folders/x", auth=BASIC).status_code == 404


def test_rejects_malformed_bodies(fake: FakeGrafana) -> None:
    url = f"{fake.url}/api/dashboards/db"
    assert (
        httpx.post(url, content=b"{nope", headers={**AUTH, "Content-Type": "application/json"}).status_code
        == 400
    )
    assert httpx.post(url, json={"dashboard": {"title": ""}}, headers=AUTH).status_code == 400
    missing_folder = {"dashboard": {"title": "t", "uid": "u"}, "folderUid": "nope"}
    assert httpx.post(url, json=missing_folder, headers=AUTH).status_code == 400
    assert (
        httpx.post(url, json={"dashboard": {"title": "t", "uid": "bad uid!"}}, headers=AUTH).status_code
        == 400
    )
    notes = f"{fake.url}/api/annotations"
    assert httpx.post(notes, json={"time": 1, "tags": []}, headers=AUTH).status_code == 400
    assert httpx.post(notes, json={"time": 5, "timeEnd": 1, "text": "x"}, headers=AUTH).status_code == 400
    assert (
        httpx.post(notes, json={"time": 1, "text": "x", "dashboardUID": "none"}, headers=AUTH).status_code
        == 404
    )
    assert httpx.delete(f"{fake.url}/api/dashboards/db", headers=AUTH).status_code == 405


def test_conflicts_and_version_checks(fake: FakeGrafana) -> None:
    source = {"name": "ch", "type": "grafana-clickhouse-datasource", "access": "proxy", "uid": "a"}
    assert httpx.post(f"{fake.url}/api/datasources", json=source, headers=AUTH).status_code == 200
    again = httpx.post(f"{fake.url}/api/datasources", json={**source, "uid": "b"}, headers=AUTH)
    assert again.status_code == 409
    dash = {"dashboard": {"title": "t", "uid": "u"}}
    assert httpx.post(f"{fake.url}/api/dashboards/db", json=dash, headers=AUTH).status_code == 200
    stale = {"dashboard": {"title": "t", "uid": "u", "version": 0}}
    assert httpx.post(f"{fake.url}/api/dashboards/db", json=stale, headers=AUTH).status_code == 412
    forced = {**stale, "overwrite": True}
    assert httpx.post(f"{fake.url}/api/dashboards/db", json=forced, headers=AUTH).json()["version"] == 2


def test_never_returns_secrets(fake: FakeGrafana) -> None:
    source = {"name": "ch", "type": "t", "access": "proxy", "uid": "a", "secureJsonData": {"password": "pw"}}
    httpx.post(f"{fake.url}/api/datasources", json=source, headers=AUTH)
    stored = httpx.get(f"{fake.url}/api/datasources/uid/a", headers=AUTH).json()
    assert "pw" not in json.dumps(stored) and stored["secureJsonFields"] == {"password": True}
