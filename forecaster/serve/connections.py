"""``forecast serve``'s guards against slow and malformed clients, at the connection level
(below the app): uvicorn's HTTP/1.1 protocol with deadlines and connection limits.

uvicorn alone closes an idle kept-alive connection (``timeout_keep_alive``) but waits
forever for a request's headers and body, answers a malformed request with plain text,
and counts connections only globally, so one client holding half-open connections locks
every other client out. :func:`guarded_protocol` adds, per connection:

- a **header deadline**: the request line and headers must arrive within
  ``header_timeout`` seconds of the connection (or of the request's first byte on a
  kept-alive one), else ``408`` and the connection is closed;
- a **body deadline**: the body must arrive within ``body_timeout`` seconds of the
  headers (a ``Content-Length`` larger than what is sent cannot hold the server);
- **connection limits**: at most ``max_connections`` in all and
  ``max_client_connections`` from one client address; a request over either is answered
  ``503`` and its connection closed;
- errors as JSON ``{"detail": "<one line>"}`` in the API's shape: a malformed request
  (a bad ``Content-Length``, headers over the size limit) included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The largest request line plus headers, in bytes (h11's own default is 16 KiB).
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """The deadlines (seconds) and connection limits of ``forecast serve`` (its flags;
    their defaults are :data:`forecaster.cli.serve.DEFAULTS`)."""

    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float
    max_connections: int
    max_client_connections: int


def json_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response ``{"detail": message}`` that closes the connection."""
    body = json.dumps({"detail": message}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def protocol_message(exc: h11.RemoteProtocolError) -> tuple[int, str, str]:
    """``(status, reason, message)`` for a request h11 could not parse."""
    text = str(exc) or "malformed request"
    if "Content-Length" in text:
        return 400, "Bad Request", ("Content-Length must be one number of bytes (digits "
                                    f"only, given once); {text}.")
    if exc.error_status_hint == 431:
        return 431, "Request Header Fields Too Large", (
            f"the request line and headers must be at most {MAX_HEADER_BYTES:,} bytes.")
    return 400, "Bad Request", f"the request is not valid HTTP/1.1: {text}."


def _refusal(limits: Limits, protocol) -> str | None:
    """Why a new connection is refused (over a limit), or None."""
    if len(protocol.connections) > limits.max_connections:
        return (f"the server is busy: it serves at most {limits.max_connections:,} "
                "connections at once; retry later.")
    host = protocol.client[0] if protocol.client else None
    mine = sum(1 for other in protocol.connections
               if other.client and other.client[0] == host)
    if host is not None and mine > limits.max_client_connections:
        return (f"too many connections from your address: at most "
                f"{limits.max_client_connections:,} at once; close some and retry.")
    return None


def guarded_protocol(limits: Limits) -> type:
    """uvicorn's h11 protocol class with ``limits``' deadlines and connection limits (pass
    it as ``uvicorn.Config(http=...)``)."""

    class GuardedH11Protocol(_Guarded):
        pass

    GuardedH11Protocol.limits = limits
    return GuardedH11Protocol


class _Guarded(H11Protocol):
    """:class:`H11Protocol` plus the deadlines and limits of :attr:`limits`."""

    limits: Limits  # set on the class guarded_protocol makes

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = None  # the running timer
        self._phase = None  # "headers" or "body": what must arrive before it fires
        self._error = None  # the last h11 parse error, for its message
        self._refused = None  # why this connection is over a limit, if it is
        parse = self.conn.next_event

        def next_event():
            try:
                return parse()
            except h11.RemoteProtocolError as exc:
                self._error = exc
                raise

        self.conn.next_event = next_event  # h11 says why; uvicorn's 400 does not

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._refused = _refusal(self.limits, self)
        if self._refused is not None:
            self.logger.warning("refusing a connection from %s: %s", self.client,
                                self._refused)
        self._watch()

    def connection_lost(self, exc) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:  # answered once its request starts (not before
            self._close_with(503, "Service Unavailable", self._refused)  # it is sent)
            return
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def send_400_response(self, msg: str) -> None:
        """A malformed request: its precise reason as JSON, then the connection closes."""
        error = self._error or h11.RemoteProtocolError(msg, 400)
        self._close_with(*protocol_message(error))

    # -- deadlines ------------------------------------------------------------------------
    def _watch(self) -> None:
        """Arm the deadline the request's state needs: its headers while none have come
        (a new connection, or the first bytes after a kept-alive response), its body
        while it streams in; none while the app answers or the connection idles between
        requests (uvicorn's keep-alive timeout covers that)."""
        if self.transport is None or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            idle = self.timeout_keep_alive_task is not None and not self.conn.trailing_data[0]
            want = None if idle else "headers"
        else:
            want = "body" if state is h11.SEND_BODY else None
        if want != self._phase:
            self._cancel()
            if want is not None:
                seconds = (self.limits.header_timeout if want == "headers"
                           else self.limits.body_timeout)
                self._phase = want
                self._deadline = self.loop.call_later(seconds, self._expired, want, seconds)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._phase = None

    def _expired(self, phase: str, seconds: float) -> None:
        self._deadline = self._phase = None
        if phase == "headers":
            message = (f"the request line and headers must arrive within {seconds:g} s "
                       "of the connection or of the request's first byte; connection closed.")
        else:
            message = (f"the request body must arrive within {seconds:g} s of its headers "
                       "(all the bytes its Content-Length announces); connection closed.")
        if phase == "body":  # the app waits for the rest of the body
            if self.cycle.response_started:
                self.transport.close()  # it answers already: nothing more to say
                return
            self.cycle.disconnected = True  # whatever it sends now is dropped
            self.cycle.message_event.set()
        self._close_with(408, "Request Timeout", message)

    def _close_with(self, status: int, reason: str, message: str) -> None:
        self._cancel()
        if not self.transport.is_closing():
            self.transport.write(json_response(status, reason, message))
            self.transport.close()
