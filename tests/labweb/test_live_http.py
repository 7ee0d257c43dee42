"""The live feed's routes over HTTP (labweb/live.py), against a real local-mode server.

Lab mode's gate in front of them is tested with every other route in test_lab_http.py.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from labweb.live import accepts_gzip
from tests.conftest import write_image_folder
from tests.lab_server import LabServer, local_server
from tests.pages.support import make_run


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, Path]]:
    folder = tmp_path_factory.mktemp("local")
    workspace = folder / "workspace"
    run = make_run(workspace / "runs", write_image_folder(folder / "images"))
    with local_server(workspace, folder / "server.log") as server:
        yield server, run


def test_the_monitor_feed_answers_json_then_304_while_nothing_changes(served) -> None:
    server, run = served
    reply = server.get(f"/_live/monitor?run={run.name}")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-cache"
    body = json.loads(reply.body)
    assert body["run"] == run.name and set(body["parts"]) == {"status", "table", "sidebar"}
    etag = reply.headers["etag"]
    again = server.get(f"/_live/monitor?run={run.name}", If_None_Match=etag)
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    stale = server.get(f"/_live/monitor?run={run.name}", If_None_Match='"other"')
    assert stale.status == 200 and stale.body == reply.body


def test_a_browser_that_takes_gzip_gets_the_answer_gzipped_once(served) -> None:
    server, run = served
    plain = server.get(f"/_live/monitor?run={run.name}")
    zipped = server.get(f"/_live/monitor?run={run.name}", Accept_Encoding="gzip, deflate, br")
    assert zipped.status == 200 and zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body and len(zipped.body) < len(plain.body)
    assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gz"'
    assert "accept-encoding" in zipped.headers["vary"].lower()
    for etag in (zipped.headers["etag"], plain.headers["etag"]):  # the same content either way
        again = server.get(f"/_live/monitor?run={run.name}", If_None_Match=etag,
                           Accept_Encoding="gzip")
        assert again.status == 304 and again.body == b""


@pytest.mark.parametrize("header, takes", [("gzip", True), ("br, gzip;q=0.5", True),
                                           ("*", True), ("GZIP", True), ("gzip;q=0", False),
                                           ("gzip; q=0.0", False), ("identity", False),
                                           ("", False), (None, False), ("gzip;q=x", False)])
def test_accept_encoding_is_read_as_http_says(header, takes) -> None:
    assert accepts_gzip(header) is takes


def test_the_sidebar_feed_with_and_without_a_run(served) -> None:
    server, run = served
    assert "No run yet" in json.loads(server.get("/_live/sidebar?run=").body)["parts"]["sidebar"][1]
    body = json.loads(server.get(f"/_live/sidebar?run={run.name}").body)
    assert f"<b>{run.name}</b>" in body["parts"]["sidebar"][1]


@pytest.mark.parametrize("name", ["", "..", "../runs", "%2e%2e", "/etc", "no-such-run",
                                  "%00", "a%2Fb"])
def test_names_that_are_not_runs_get_404_and_no_content(served, name: str) -> None:
    server, _ = served
    reply = server.get(f"/_live/monitor?run={name}")
    assert reply.status == 404 and json.loads(reply.body) == {"error": "no such run in this "
                                                                       "workspace."}


def test_another_host_name_is_refused_in_local_mode(served) -> None:
    """A page elsewhere whose DNS name was rebound to 127.0.0.1 cannot read the runs."""
    server, run = served
    reply = server.get(f"/_live/monitor?run={run.name}", Host=f"evil.example:{server.port}")
    assert reply.status == 400 and run.name.encode() not in reply.body
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert server.get(f"/_live/sidebar?run={run.name}",
                          Host=f"{host}:{server.port}").status == 200, host


def test_the_feed_is_read_only(served) -> None:
    server, run = served
    assert server.request("POST", f"/_live/monitor?run={run.name}").status == 405


def test_a_build_that_fails_answers_500_with_the_reason(monkeypatch, tmp_path: Path) -> None:
    """Whatever goes wrong in a build, the page gets a JSON reason (it shows "not updating")
    and the server logs it; it never hangs or drops the connection."""
    from starlette.requests import Request

    from labweb import live
    from tuning_core.live import answers as _feed

    def broken(run, since=None):
        raise ValueError("disk on fire")

    monkeypatch.setattr(_feed, "monitor_feed", broken)
    monkeypatch.setattr(_feed, "run_path", lambda name: tmp_path)
    route = next(r for r in live.live_routes(lab_mode=False) if r.path == _feed.MONITOR_URL)
    request = Request({"type": "http", "method": "GET", "path": _feed.MONITOR_URL,
                       "query_string": b"run=x", "headers": [(b"host", b"127.0.0.1:8501")]})
    reply = route.endpoint(request)
    assert reply.status_code == 500
    assert json.loads(reply.body) == {"error": "the live view could not be built: disk on fire"}
