"""``python -m lab.apiserver --host 127.0.0.1 --port P --state-dir DIR [...]``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
from pathlib import Path

import aiohttp.test_utils
import kmock

from . import auth
from .cluster import Cluster
from .server import LabApiServer, RequestLog

log = logging.getLogger('lab.apiserver')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m lab.apiserver', description=__doc__)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 picks a free port (written to STATE_DIR/port)')
    parser.add_argument('--state-dir', type=Path, required=True, help='where requests.jsonl and port go')
    parser.add_argument('--gateway-url', default=None, help='upstream of the services/NAME/proxy endpoint')
    parser.add_argument('--neverready-marker', default='-neverready', help='image tag suffix of never-Ready pods')
    parser.add_argument('--cluster-name', default='lab', help='name used in log lines')
    parser.add_argument('--token-file', type=Path, default=None,
                        help='require a bearer token: this static one (or an EKS token when --sts-url is set)')
    parser.add_argument('--sts-url', default=None,
                        help='accept EKS tokens (aws eks get-token), checked against this STS endpoint (moto)')
    parser.add_argument('--tls-cert', type=Path, default=None, help='serve https with this certificate (PEM)')
    parser.add_argument('--tls-key', type=Path, default=None, help='the key of --tls-cert')
    parser.add_argument('--persist', action='store_true',
                        help='keep the objects in STATE_DIR/objects.jsonl across restarts (as a real cluster does)')
    parser.add_argument('--log-level', default='INFO', help='DEBUG also logs every request (aiohttp access log)')
    return parser.parse_args(argv)


def _write_port(state_dir: Path, port: int) -> None:
    temporary = state_dir / 'port.tmp'
    temporary.write_text(f'{port}\n', encoding='utf-8')
    os.replace(temporary, state_dir / 'port')


def tls_server_class(cert: Path, key: Path) -> type[aiohttp.test_utils.RawTestServer]:
    """kmock's server class, serving https (client-go runs exec credential plugins only for https servers)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    class TlsServer(aiohttp.test_utils.RawTestServer):
        async def start_server(self, loop=None, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault('ssl', context)
            await super().start_server(loop=loop, **kwargs)
    return TlsServer


async def serve(args: argparse.Namespace) -> None:
    args.state_dir.mkdir(parents=True, exist_ok=True)
    token_file = args.token_file or args.state_dir / 'token'
    token = token_file.read_text(encoding='utf-8').strip() if token_file.exists() else None
    auth.configure(static_token=token, sts_url=args.sts_url, cluster_name=args.cluster_name)
    cluster = Cluster(args.neverready_marker, args.state_dir / 'objects.jsonl' if args.persist else None)
    handler = LabApiServer(cluster=cluster, gateway_url=args.gateway_url,
                           request_log=RequestLog(args.state_dir / 'requests.jsonl'))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        tls = {'server_cls': tls_server_class(args.tls_cert, args.tls_key)} if args.tls_cert else {}
        async with handler, kmock.Server(handler, host=args.host, port=args.port, **tls) as server:
            _write_port(args.state_dir, server.port)
            log.info('cluster %r: Kubernetes API emulator on %s://%s:%d', args.cluster_name,
                     'https' if args.tls_cert else 'http', args.host, server.port)
            await stop.wait()
    finally:
        await handler.close()
        cluster.store.close()
    log.info('cluster %r: stopped', args.cluster_name)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    level = args.log_level.upper()
    logging.basicConfig(level=level, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    logging.getLogger('aiohttp.access').setLevel(level if level == 'DEBUG' else 'WARNING')
    asyncio.run(serve(args))


if __name__ == '__main__':
    main()
