"""Live sources named by URL (rtsp://, http://, udp://, ...) or camera index: how fervid tells a stream from a file,
writes its address without the secrets in it, names its outputs, and says why one did not open."""

from __future__ import annotations

import re
from pathlib import Path


# query parameters whose values are masked where fervid prints or writes a URL (access tokens, keys, signatures)
_SECRET_QUERY_KEY = re.compile(r"token|key|pass|pwd|psw|secret|auth|sig|credential|session", re.I)


def _masked_params(params: str, separator: str) -> str:
    """``key=value`` pairs joined by ``separator`` with the values of secret-looking keys replaced by ``***``."""
    return separator.join(re.sub(r"=.*", "=***", item, flags=re.S)
                          if "=" in item and _SECRET_QUERY_KEY.search(item.split("=", 1)[0]) else item
                          for item in params.split(separator))


def is_stream_url(source: str | int) -> bool:
    """Whether a live source is a network stream (rtsp://, http://, udp://, ...) rather than a camera or a file."""
    return "://" in str(source)


def masked_source(source: str | int) -> str:
    """``source`` as fervid prints and writes it: a URL's password (``user:PASSWORD@``; a user name alone, which
    may be an access token: ``TOKEN@``) and the values of query or path parameters (``?token=``, RTSP cameras'
    ``;password=``) that look like secrets (token, key, password, auth, sig...) replaced by ``***``; anything else as
    it is. A camera's or a stream's address ends up in terminals, logs and the results shared with others."""
    text = str(source)
    if not is_stream_url(text):
        return text
    scheme, rest = text.split("://", 1)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    tail = rest[len(authority):]
    userinfo, at, host = authority.rpartition("@")
    if at:
        authority = (f"{userinfo.split(':', 1)[0]}:***@{host}" if ":" in userinfo else f"***@{host}")
    path, question, query = tail.partition("?")
    path = _masked_params(path, ";")
    if question:
        query, hash_, fragment = query.partition("#")
        query = _masked_params(query, "&") + hash_ + fragment
    return f"{scheme}://{authority}{path}{question}{query}"


def source_stem(source: str | int) -> str:
    """The start of a live source's output file names: ``camera0`` for a camera index; for a URL its host, port
    and path (``rtsp://cam1.local:554/live/main`` -> ``cam1.local_554_live_main``: two cameras' streams of one
    path stay apart), never its credentials or query, in characters every filesystem takes; a file's stem."""
    from urllib.parse import unquote, urlsplit

    text = str(source)
    if text.isdigit():
        return f"camera{int(text)}"
    if not is_stream_url(text):
        from fervid.inference.images import fitted_stem

        return fitted_stem(Path(text).stem)
    try:
        parts = urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed host or port: whatever follows the scheme, up to the query
        parts, host, port = None, re.split(r"[?#]", text.split("://", 1)[1])[0].rpartition("@")[2], None
    # a segment's ;parameters (an RTSP camera's ;password=...) are left out, as the query is
    segments = [unquote(segment.split(";", 1)[0]) for segment in (parts.path if parts else "").split("/")
                if segment.split(";", 1)[0]]
    if segments:
        segments[-1] = Path(segments[-1]).stem or segments[-1]  # cam.ts -> cam, as a file's stem
    stem = "_".join(str(piece) for piece in (host, port, *segments) if piece)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:100].strip(".-_")
    return stem or "stream"


def why_no_stream(url: str, timeout: float = 2.0) -> str:
    """What a cheap check finds wrong with a stream URL that did not open ("" where it finds nothing): no host, an
    unknown host, a refused connection, an HTTP error status. Bounded by ``timeout`` per step."""
    import base64
    import http.client
    import socket
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if not host:
        return "the URL names no host"
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935}.get(scheme)
    try:
        socket.getaddrinfo(host, port or default or 0)
    except (socket.gaierror, UnicodeError):
        return f"unknown host {host}"
    if scheme in ("udp", "rtp", "srt"):  # nothing answers a probe: only the sender's packets tell it is there
        return "nothing arrived on that address (is the sender running, and sending to it?)"
    port = port or default
    if scheme not in ("http", "https", "rtsp", "rtsps", "rtmp", "tcp") or not port:
        return ""
    address = (host, port)
    try:
        socket.create_connection(address, timeout=timeout).close()
    except ConnectionRefusedError:
        return f"connection refused by {host}:{address[1]} (nothing listens there?)"
    except OSError as exc:
        return f"{host}:{address[1]} cannot be reached ({exc.strerror or exc})"
    if scheme not in ("http", "https"):
        return ""
    try:
        conn = (http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection)(
            host, address[1], timeout=timeout)
        headers = {}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = conn.getresponse()
        conn.close()
    except (OSError, http.client.HTTPException):
        return ""
    return f"the server answered HTTP {response.status} {response.reason}" if response.status >= 400 else ""
