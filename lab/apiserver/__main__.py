"""``python -m lab.apiserver --host 127.0.0.1 --port P --state-dir DIR [...]``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

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
    parser.add_argument('--persist', action='store_true',
                        help='keep the objects in STATE_DIR/objects.jsonl across restarts (as a real cluster does)')
    parser.add_argument('--log-level', default='INFO', help='DEBUG also logs every request (aiohttp access log)')
    return parser.parse_args(argv)


def _write_port(state_dir: Path, port: int) -> None:
    temporary = state_dir / 'port.tmp'
    temporary.write_text(f'{port}\n', encoding='utf-8')
    os.replace(temporary, state_dir / 'port')


async def serve(args: argparse.Namespace) -> None:
    args.state_dir.mkdir(parents=True, exist_ok=True)
    auth.configure(args.state_dir)
    cluster = Cluster(args.neverready_marker, args.state_dir / 'objects.jsonl' if args.persist else None)
    handler = LabApiServer(cluster=cluster, gateway_url=args.gateway_url,
                           request_log=RequestLog(args.state_dir / 'requests.jsonl'))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with handler, kmock.Server(handler, host=args.host, port=args.port) as server:
            _write_port(args.state_dir, server.port)
            log.info('cluster %r: Kubernetes API emulator on http://%s:%d', args.cluster_name, args.host, server.port)
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
