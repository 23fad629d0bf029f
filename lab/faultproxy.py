"""A bounded, loopback-only TCP proxy that fails a share of connections: the lab's flaky network.

    with FaultProxy('127.0.0.1', 8080, share=0.3, max_failures=20) as proxy:
        ... point a client at proxy.url ...

Each new connection is, with probability ``share`` (or when its first bytes contain one of ``drop_if``), accepted
and closed at once, so the client sees a reset / EOF, as from a flaky API server or load balancer; the other
connections are piped to the target unchanged. Bounded: at most ``max_failures`` connections are failed (then every
connection passes), and the proxy stops when the ``with`` block ends. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import random
import select
import socket
import threading
from collections.abc import Iterable

LOOPBACK = '127.0.0.1'


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, share: float = 0.0, max_failures: int = 50,
                 drop_if: Iterable[bytes] = (), seed: int | None = None) -> None:
        if target_host not in (LOOPBACK, 'localhost'):
            raise ValueError('the fault proxy forwards to loopback targets only')
        self.target = (target_host, target_port)
        self.share, self.max_failures, self.drop_if = share, max_failures, tuple(drop_if)
        self.failed = 0
        self.passed = 0
        self._random = random.Random(seed)
        self._server = socket.create_server((LOOPBACK, 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.port = self._server.getsockname()[1]
        self.url = f'http://{LOOPBACK}:{self.port}'

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _fail_this(self, first: bytes) -> bool:
        with self._lock:
            if self.failed >= self.max_failures:
                return False
            fail = any(marker in first for marker in self.drop_if) or self._random.random() < self.share
            if fail:
                self.failed += 1
            else:
                self.passed += 1
            return fail

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(10)
            first = client.recv(65536) if self.drop_if else b''
            if self._fail_this(first):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                return  # closed with a reset
            upstream = socket.create_connection(self.target, timeout=10)
            if first:
                upstream.sendall(first)
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.5)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)
