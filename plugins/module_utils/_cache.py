# -*- coding: utf-8 -*-
# Copyright: Contributors to the portkey_ai.gateway project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private helpers of the ``cache_check`` module (not a public API).

A minimal RESP client on the standard library (socket + ssl): connect, optionally TLS, PING, AUTH when the
server asks for it, PING again. Mismatches between the TLS setting and the server are diagnosed:
a plain connection that is reset or closed while a TLS handshake succeeds means the server speaks TLS.
The password is sent only after the server has answered in the protocol the client expects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl
import time

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore
    from urllib import unquote  # type: ignore

TLS_ON_MSG = ('the server speaks TLS: set REDIS_TLS_ENABLED to "true" (portkey_environment.REDIS_TLS_ENABLED)')
TLS_OFF_MSG = ('the server does not speak TLS: set REDIS_TLS_ENABLED to "false" '
               '(portkey_environment.REDIS_TLS_ENABLED), or enable TLS on the server')


class CacheError(Exception):
    """A failed check; the message names the setting to fix and never contains credentials."""


class _ProtocolMismatch(Exception):
    pass


def truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def parse_redis_url(url):
    """Split ``redis[s]://[user[:password]@]host[:port][/db]`` (a bare ``host:port`` is accepted too)."""
    url = (url or "").strip()
    if not url:
        raise CacheError("REDIS_URL is empty: set portkey_environment.REDIS_URL (redis://host:6379)")
    if "://" not in url:
        url = "redis://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise CacheError("REDIS_URL must start with redis:// or rediss:// (portkey_environment.REDIS_URL)")
    try:
        port = parts.port or 6379
    except ValueError:
        raise CacheError("REDIS_URL has an invalid port (portkey_environment.REDIS_URL)")
    if not parts.hostname:
        raise CacheError("REDIS_URL has no host (portkey_environment.REDIS_URL)")
    return dict(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def secrets_of(url):
    """Strings that must never be printed: the password, the user:password pair, the URL itself."""
    out = []
    if url:
        out.append(url)
        try:
            parsed = parse_redis_url(url)
        except CacheError:
            return out
        if parsed["password"]:
            out.append(parsed["password"])
            if parsed["username"]:
                out.append("%s:%s" % (parsed["username"], parsed["password"]))
    return out


def _encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a.encode("utf-8") if not isinstance(a, bytes) else a
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def _readline(sock):
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise _ProtocolMismatch("connection closed by the server")
        buf += chunk
        if len(buf) > 4096:
            break
    return buf.decode("utf-8", "replace").strip()


def _command(sock, *args):
    sock.sendall(_encode(*args))
    line = _readline(sock)
    if not line or line[0] not in "+-:$*":
        raise _ProtocolMismatch("not a Redis reply")
    return line


def _session(sock, password, username):
    reply = _command(sock, "PING")
    if reply.startswith("-NOAUTH") or (reply.startswith("-") and "auth" in reply.lower()):
        if not password:
            raise CacheError("the server requires a password: put it in REDIS_URL (redis://:PASSWORD@host:port) "
                             "or pass it as password")
        auth = ("AUTH", username, password) if username else ("AUTH", password)
        reply = _command(sock, *auth)
        if not reply.startswith("+"):
            raise CacheError("authentication failed (%s): check the password in REDIS_URL"
                             % reply.split(" ", 1)[0].lstrip("-"))
        reply = _command(sock, "PING")
    if reply != "+PONG":
        raise CacheError("unexpected answer to PING: %s" % reply[:80])
    return "PONG"


def _connect(host, port, timeout):
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        raise CacheError("timed out connecting to %s:%s after %s s: check the host and port of "
                         "portkey_environment.REDIS_URL and the security group / network path between here and Redis "
                         "(or set portkey_cache_check: false when only the cluster can reach it)"
                         % (host, port, timeout))
    except (OSError, socket.error) as exc:
        raise CacheError("cannot connect to %s:%s (%s): the external Redis is down or portkey_environment.REDIS_URL "
                         "names the wrong host or port; start it or fix REDIS_URL (or set portkey_cache_check: false "
                         "when only the cluster can reach it)" % (host, port, getattr(exc, "strerror", None) or exc))


def _tls_context(ca_file, check_hostname):
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.check_hostname = bool(check_hostname)
    return ctx


def _speaks_tls(host, port, timeout):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = None
    try:
        sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=timeout), server_hostname=host)
        return True
    except (OSError, ssl.SSLError, socket.error):
        return False
    finally:
        if sock is not None:
            sock.close()


def _speaks_plain(host, port, timeout):
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.error):
        return False
    try:
        reply = _command(sock, "PING")
        return reply.startswith("+") or reply.startswith("-")
    except (OSError, socket.error, _ProtocolMismatch):
        return False
    finally:
        sock.close()


def ping(host, port, tls=False, ca_file=None, password=None, username=None, timeout=5.0, check_hostname=True):
    """PING the server; return dict(response, latency_ms). Raises CacheError with a fix in the message."""
    start = time.monotonic()
    raw = _connect(host, port, timeout)
    sock = raw
    try:
        if tls:
            try:
                sock = _tls_context(ca_file, check_hostname).wrap_socket(raw, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                raise CacheError("TLS certificate of %s:%s not trusted (%s): give the CA bundle as ca_file"
                                 % (host, port, exc.verify_message or exc))
            except (ssl.SSLError, OSError, socket.error) as exc:
                raw.close()
                if _speaks_plain(host, port, timeout):
                    raise CacheError(TLS_OFF_MSG)
                raise CacheError("TLS handshake with %s:%s failed (%s)" % (host, port, exc))
        try:
            response = _session(sock, password, username)
        except (_ProtocolMismatch, ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            if not tls and _speaks_tls(host, port, timeout):
                raise CacheError(TLS_ON_MSG)
            raise CacheError("%s:%s did not answer PING like a Redis server (%s)" % (host, port, exc))
        except socket.timeout:
            if not tls and _speaks_tls(host, port, timeout):
                raise CacheError(TLS_ON_MSG)
            raise CacheError("%s:%s did not answer PING within %s s" % (host, port, timeout))
    finally:
        try:
            sock.close()
        except (OSError, socket.error):
            pass
    return dict(response=response, latency_ms=int((time.monotonic() - start) * 1000))


def check_cache(cache_store, redis_url, tls_enabled=False, ca_file=None, password=None, username=None,
                timeout=5.0, check_hostname=True):
    """The module's logic. Returns the ``cache`` return value."""
    store = (cache_store or "").strip() or None
    skipped = dict(checked=False, store=store, host=None, port=None, tls=False, response=None, latency_ms=None)
    if store == "redis":
        return dict(skipped, reason="CACHE_STORE is redis: the chart runs Redis in the cluster; nothing to check")
    if not redis_url:
        if store is None:
            return dict(skipped, reason="no REDIS_URL given; nothing to check")
        raise CacheError("CACHE_STORE is %s but REDIS_URL is not set: set portkey_environment.REDIS_URL" % store)
    parsed = parse_redis_url(redis_url)
    tls = truthy(tls_enabled) or parsed["scheme"] == "rediss"
    result = ping(parsed["host"], parsed["port"], tls=tls, ca_file=ca_file,
                  password=password or parsed["password"], username=username or parsed["username"],
                  timeout=timeout, check_hostname=check_hostname)
    return dict(checked=True, store=store, host=parsed["host"], port=parsed["port"], tls=tls,
                response=result["response"], latency_ms=result["latency_ms"], reason="")
