"""`forecast serve` against slow and malformed clients, on a real uvicorn server in a
thread and raw sockets: headers trickled in, a body shorter than its Content-Length and
an idle keep-alive connection are closed after their (tiny, configured) timeouts; one
client cannot take every connection; a malformed Content-Length, deeply nested JSON and
invalid UTF-8 get a one-line JSON error. Nothing sleeps: each test waits on the socket
(a generous timeout) for the server to answer or close."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from click.testing import CliRunner  # noqa: E402

from forecaster.cli import forecast  # noqa: E402
from forecaster.cli.serve import bind, uvicorn_config  # noqa: E402
from forecaster.serve.app import create_app  # noqa: E402
from forecaster.serve.connections import Limits  # noqa: E402

WAIT = 30.0  # seconds a socket waits for the server: generous, never reached when it works
TINY = 0.5  # the timeouts under test


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server over an empty runs folder, with tiny timeouts and 4 connections per
    client; yields (host, port)."""
    limits = Limits(header_timeout=TINY, body_timeout=TINY, keep_alive_timeout=TINY,
                    max_connections=64, max_client_connections=4)
    sock = bind("127.0.0.1", 0)
    app = create_app(tmp_path_factory.mktemp("served") / "runs")
    instance = uvicorn.Server(uvicorn_config(app, limits, quiet=True))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not instance.started:  # polls a condition, no fixed sleep
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        threading.Event().wait(0.01)
    yield sock.getsockname()[:2]
    instance.should_exit = True
    thread.join(WAIT)
    sock.close()


def connect(address) -> socket.socket:
    sock = socket.create_connection(address, timeout=WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or WAIT passes: then
    the test fails on what it got)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), raw[:200]
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert headers[b"content-type"] == b"application/json", head
    return int(lines[0].split()[1]), json.loads(body)


def request(address, raw: bytes) -> tuple[int, dict]:
    sock = connect(address)
    sock.sendall(raw)
    return status_and_body(read_until_closed(sock))


def post(body: bytes, headers: bytes = b"") -> bytes:
    return (b"POST /runs/latest/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\n" + headers
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_headers_trickled_in_are_cut_off(server):
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
    sock.settimeout(TINY / 5)
    closed = False
    deadline = time.monotonic() + WAIT
    got = b""
    while not closed and time.monotonic() < deadline:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
            chunk = sock.recv(65536)
            got += chunk
            closed = not chunk
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    assert closed, "the server kept a connection that never finished its headers"
    status, body = status_and_body(got)
    assert status == 408 and "headers" in body["detail"]


def test_a_body_shorter_than_its_content_length_is_cut_off(server):
    sock = connect(server)
    sock.sendall(b"POST /runs/latest/forecast HTTP/1.1\r\nHost: t\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"hor")
    status, body = status_and_body(read_until_closed(sock))
    assert status == 408 and "body" in body["detail"]


def test_an_idle_connection_is_closed(server):
    sock = connect(server)  # sends nothing at all
    assert read_until_closed(sock).startswith(b"HTTP/1.1 408")
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")  # then idles, kept alive
    raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200") and raw.count(b"HTTP/1.1") == 1


def test_one_client_cannot_take_every_connection(server):
    held = [connect(server) for _ in range(4)]  # the client's share, half-open
    status, body = request(server, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 503 and "connections" in body["detail"]
    for sock in held:  # closed by the header timeout, so the client is served again
        read_until_closed(sock)
    deadline = time.monotonic() + WAIT
    while True:  # the server forgets a closed connection a moment after the client sees it
        status, body = request(server, b"GET /health HTTP/1.1\r\nHost: t\r\n"
                                       b"Connection: close\r\n\r\n")
        if status == 200 or time.monotonic() > deadline:
            break
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize("length, words", [
    (b"Content-Length: abc\r\n", "Content-Length"),
    (b"Content-Length: -1\r\n", "Content-Length"),
    (b"Content-Length: +13\r\n", "Content-Length"),
    (b"Content-Length: 13\r\nContent-Length: 14\r\n", "Content-Length"),
])
def test_a_bad_content_length_gets_a_json_400(server, length, words):
    status, body = request(server, b"POST /runs/latest/forecast HTTP/1.1\r\nHost: t\r\n"
                                   + length + b"\r\n{\"horizon\": 3}")
    assert status == 400 and words in body["detail"]
    assert len(body["detail"].splitlines()) == 1


def test_headers_too_large_get_a_json_431(server):
    status, body = request(server, b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: "
                                   + b"a" * 200_000 + b"\r\n\r\n")
    assert status == 431 and "headers" in body["detail"]


@pytest.mark.parametrize("content, words", [
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b'{"horizon": "\xff\xfe"}', "UTF-8"),
])
def test_unparsable_json_gets_a_precise_json_400(server, content, words):
    status, body = request(server, post(content))
    assert status == 400 and words in body["detail"]
    assert "There was an error parsing the body" not in body["detail"]


def test_the_flags_reach_the_server(monkeypatch, tmp_path):
    seen = {}

    def fake_run(self, sockets=None):
        seen["config"] = self.config
        for sock in sockets or []:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr("forecaster.cli.serve._start_runtime", lambda ctx, device: None)
    result = CliRunner().invoke(forecast, [
        "serve", "--runs-dir", str(tmp_path), "--port", "0", "--header-timeout", "3",
        "--body-timeout", "7", "--keep-alive-timeout", "2", "--max-connections", "50",
        "--max-client-connections", "5"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.timeout_keep_alive == 2
    assert config.http.limits == Limits(header_timeout=3, body_timeout=7,
                                        keep_alive_timeout=2, max_connections=50,
                                        max_client_connections=5)
    bad = CliRunner().invoke(forecast, ["serve", "--header-timeout", "0"])
    assert bad.exit_code == 2



def test_serving_leaves_the_process_s_logging_alone(monkeypatch, tmp_path):
    """uvicorn's default set-up is logging.config.dictConfig, which shuts down every
    handler of the process (a notebook's, a test runner's): the server's loggers are set
    up on their own instead, and another handler stays open and attached."""
    import io
    import logging

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    monkeypatch.setattr("forecaster.cli.serve._start_runtime", lambda ctx, device: None)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        result = CliRunner().invoke(forecast, ["serve", "--runs-dir", str(tmp_path),
                                               "--port", "0"])
        assert result.exit_code == 0, result.output
        assert not stream.closed
        assert handler in logging.getLogger().handlers
        logging.getLogger("uvicorn.error").info("still logging")  # reaches today's stderr
    finally:
        logging.getLogger().removeHandler(handler)
