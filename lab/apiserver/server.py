"""The HTTP side: a kmock handler that routes Kubernetes API requests to the cluster model."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import aiohttp.web as web
import attrs
import kmock
from kmock import KubernetesError

from . import auth, protobuf, resources
from .cluster import Cluster, Matcher
from .resources import ResourceType
from .selectors import labels_match, parse_field_selector, parse_label_selector
from .store import Obj, Watcher

log = logging.getLogger('lab.apiserver')

SERVER_VERSION = {
    'major': '1', 'minor': '30', 'gitVersion': 'v1.30.14', 'gitCommit': '0000000000000000000000000000000000000000',
    'gitTreeState': 'clean', 'buildDate': '2025-01-01T00:00:00Z', 'goVersion': 'go1.23.0',
    'compiler': 'gc', 'platform': 'linux/amd64',
}
PROTOBUF = 'application/vnd.kubernetes.protobuf'
HOP_HEADERS = {'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'content-encoding'}


def status_body(exc: KubernetesError) -> dict[str, Any]:
    body: dict[str, Any] = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                            'message': exc.message or '', 'reason': exc.reason or '', 'code': exc.status}
    if exc.details:
        body['details'] = exc.details
    return body


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type='application/json')


def resource_not_found() -> KubernetesError:
    return KubernetesError(404, 'NotFound', 'the server could not find the requested resource', {})


class RequestLog:
    """Every request (except /_lab/ ones), in memory and appended to ``requests.jsonl``."""

    def __init__(self, path: Path) -> None:
        self._entries: list[dict[str, Any]] = []
        self._file: IO[str] = path.open('a', encoding='utf-8')

    def record(self, request: web.BaseRequest) -> None:
        entry = {'method': request.method, 'path': request.path, 'query': request.query_string, 'ts': time.time()}
        self._entries.append(entry)
        self._file.write(json.dumps(entry) + '\n')
        self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class ApiPath:
    """A parsed resource URL: /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE...]]."""

    group: str
    version: str
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @classmethod
    def parse(cls, path: str) -> ApiPath | None:
        parts = path.strip('/').split('/')
        if parts[0] == 'api' and len(parts) >= 2:
            group, version, rest = '', parts[1], parts[2:]
        elif parts[0] == 'apis' and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = None
        namespaced_subpath = len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ('status', 'finalize'))
        if rest and rest[0] == 'namespaces' and namespaced_subpath:
            namespace, rest = rest[1], rest[2:]
        return cls(group, version, rest[0] if rest else None, namespace,
                   rest[1] if len(rest) > 1 else None, '/'.join(rest[2:]) or None)


def _flag(value: str | None) -> bool:
    return (value or '').lower() in ('true', '1')  # the Python client sends watch=True


@attrs.define(kw_only=True)
class LabApiServer(kmock.RawHandler):
    """kmock's raw handler, with its request dispatch replaced by the emulator's router."""

    cluster: Cluster
    request_log: RequestLog
    gateway_url: str | None = None
    _http: aiohttp.ClientSession | None = attrs.field(default=None, init=False)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        if not request.path.startswith('/_lab/'):
            self.request_log.record(request)
            if not auth.authorized(request.headers):
                return json_response(status_body(KubernetesError(401, 'Unauthorized', 'Unauthorized', {})), 401)
        try:
            return await self._route(request, body)
        except KubernetesError as exc:
            return json_response(status_body(exc), exc.status)
        except Exception as exc:  # the client gets a Kubernetes-style error; the log gets the traceback
            log.exception('internal error on %s %s', request.method, request.path_qs)
            return json_response(status_body(KubernetesError(500, 'InternalError', repr(exc), {})), 500)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self.request_log.close()

    # ---- routing ----------------------------------------------------------------------------------

    async def _route(self, request: web.BaseRequest, body: bytes) -> web.StreamResponse:
        path = request.path.rstrip('/') or '/'
        if path.startswith('/_lab/'):
            return self._lab(request, path)
        if path.startswith('/openapi/'):
            return self._openapi(request, path)
        fixed = self._fixed_documents(request, path)
        if fixed is not None:
            return json_response(fixed)
        parsed = ApiPath.parse(path)
        if parsed is None:
            raise resource_not_found()
        if parsed.plural is None:
            doc = resources.api_resource_list(self.cluster.registry, parsed.group, parsed.version)
            if doc is None:
                raise resource_not_found()
            return json_response(doc)
        rtype = self.cluster.registry.lookup(parsed.group, parsed.version, parsed.plural)
        if rtype is None or (parsed.namespace is not None and not rtype.namespaced):
            raise resource_not_found()
        if rtype.plural == 'services' and parsed.subresource and parsed.subresource.split('/')[0] == 'proxy':
            return await self._proxy(request, body, parsed)
        return await self._resource(request, body, rtype, parsed)

    def _fixed_documents(self, request: web.BaseRequest, path: str) -> Any:
        registry = self.cluster.registry
        if path == '/version':
            return SERVER_VERSION
        if path == '/api':
            return resources.api_versions(request.host)
        if path == '/apis':
            return resources.api_group_list(registry)
        if path == '/':
            return {'paths': ['/api', '/api/v1', '/apis', '/openapi/v2', '/openapi/v3', '/version']}
        if path in ('/healthz', '/livez', '/readyz'):
            return 'ok'
        if path.startswith('/apis/') and path.count('/') == 2:
            group = resources.api_group(registry, path.split('/')[2])
            if group is None:
                raise resource_not_found()
            return group
        return None

    def _lab(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        if path == '/_lab/healthz':
            return web.Response(text='ok')
        if path == '/_lab/requests' and request.method == 'GET':
            return json_response(self.request_log.entries())
        if path == '/_lab/requests' and request.method == 'DELETE':
            self.request_log.clear()
            return json_response({'cleared': True})
        raise resource_not_found()

    def _openapi(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        registry = self.cluster.registry
        if path == '/openapi/v2':
            if 'protobuf' in request.headers.get('Accept', ''):
                return web.Response(body=b'', headers={'Content-Type': resources.OPENAPI_V2_PROTOBUF})
            return json_response(resources.openapi_v2(SERVER_VERSION['gitVersion']))
        if path == '/openapi/v3':
            return json_response(resources.openapi_v3_root(registry))
        parsed = ApiPath.parse(path.removeprefix('/openapi/v3'))
        doc = parsed and resources.openapi_v3_document(registry, parsed.group, parsed.version)
        if not doc:
            raise resource_not_found()
        return json_response(doc)

    # ---- resources --------------------------------------------------------------------------------

    async def _resource(self, request: web.BaseRequest, body: bytes, rtype: ResourceType,
                        parsed: ApiPath) -> web.StreamResponse:
        query = request.query
        cluster, namespace, name = self.cluster, parsed.namespace, parsed.name
        status_only = parsed.subresource == 'status'
        if parsed.subresource not in (None, 'status'):
            raise resource_not_found()
        dry_run = 'dryRun' in query
        method = request.method
        if method == 'GET' and _flag(query.get('watch')):
            return await self._watch(request, rtype, namespace, self._matcher(query, name))
        if method == 'GET' and name is None:
            items = cluster.list(rtype, namespace, self._matcher(query, None))
            return json_response({'kind': f'{rtype.kind}List', 'apiVersion': rtype.api_version,
                                  'metadata': {'resourceVersion': cluster.store.resource_version}, 'items': items})
        if method == 'GET':
            return json_response(cluster.get(rtype, namespace, name))
        if method == 'POST' and name is None:
            return json_response(cluster.create(rtype, namespace, self._body(request, body), dry_run), 201)
        if method == 'PUT' and name is not None:
            updated = cluster.update(rtype, namespace, name, self._body(request, body), dry_run, status_only)
            return json_response(updated)
        if method == 'PATCH' and name is not None:
            content_type = request.content_type
            data = None if content_type == 'application/apply-patch+yaml' else self._json(body)
            existed = cluster.store.get(cluster.key(rtype, namespace, name)) is not None
            obj = cluster.patch(rtype, namespace, name, content_type, body, data, dry_run, status_only)
            return json_response(obj, 200 if existed else 201)
        if method == 'DELETE' and name is not None:
            self._body(request, body)  # DeleteOptions: validated, not used (deletion is always immediate)
            obj = cluster.delete(rtype, namespace, name, dry_run)
            return json_response({'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Success',
                                  'details': {'name': name, 'group': rtype.group, 'kind': rtype.plural,
                                              'uid': obj['metadata']['uid']}})
        if method == 'DELETE':
            items = cluster.delete_collection(rtype, namespace, self._matcher(query, None), dry_run)
            return json_response({'kind': f'{rtype.kind}List', 'apiVersion': rtype.api_version,
                                  'metadata': {'resourceVersion': cluster.store.resource_version}, 'items': items})
        raise KubernetesError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise KubernetesError(400, 'BadRequest', f'the body is not valid JSON: {exc}', {})

    def _body(self, request: web.BaseRequest, body: bytes) -> Obj:
        data = protobuf.decode(body) if request.content_type == PROTOBUF else self._json(body)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise KubernetesError(400, 'BadRequest', 'the body must be a JSON object', {})
        return data

    @staticmethod
    def _matcher(query: Any, name: str | None) -> Matcher:
        label_reqs = parse_label_selector(query.get('labelSelector'))
        field_ok = parse_field_selector(query.get('fieldSelector'))
        return lambda obj: (
            labels_match(label_reqs, obj['metadata'].get('labels'))
            and field_ok(obj)
            and (name is None or obj['metadata']['name'] == name))

    # ---- watch ------------------------------------------------------------------------------------

    def _watch_backlog(self, rtype: ResourceType, namespace: str | None, matches: Matcher,
                       watcher: Watcher, query: Any) -> list[dict[str, Any]]:
        """The events a new watch starts with (computed and subscribed without yielding to the loop)."""
        store = self.cluster.store
        rv = query.get('resourceVersion') or ''
        initial = _flag(query.get('sendInitialEvents'))
        if initial or rv in ('', '0'):
            events = [{'type': 'ADDED', 'object': obj} for obj in self.cluster.list(rtype, namespace, matches)]
            if initial:
                marker = {'resourceVersion': store.resource_version,
                          'annotations': {'k8s.io/initial-events-end': 'true'}}
                events.append({'type': 'BOOKMARK', 'object': {'kind': rtype.kind, 'apiVersion': rtype.api_version,
                                                             'metadata': marker}})
            return events
        if not rv.isdigit():
            raise KubernetesError(400, 'BadRequest', f'invalid resourceVersion {rv!r}', {})
        logged = store.events_since(int(rv))
        if logged is None:
            gone = KubernetesError(410, 'Expired', f'too old resource version: {rv} ({store.resource_version})', {})
            return [{'type': 'ERROR', 'object': status_body(gone)}]
        return [message for event in logged if (message := watcher.translate(event)) is not None]

    async def _watch(self, request: web.BaseRequest, rtype: ResourceType, namespace: str | None,
                     matches: Matcher) -> web.StreamResponse:
        query = request.query
        scope = namespace if rtype.namespaced else None
        watcher = Watcher(rtype.group_resource, scope, matches)
        backlog = self._watch_backlog(rtype, scope, matches, watcher, query)
        self.cluster.store.subscribe(watcher)
        response = web.StreamResponse(headers={'Content-Type': 'application/json'})
        timeout = float(query['timeoutSeconds']) if query.get('timeoutSeconds') else None
        deadline = asyncio.get_running_loop().time() + timeout if timeout is not None else None
        try:
            await response.prepare(request)
            for message in backlog:
                await self._write_event(response, rtype, message)
            while True:
                remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
                message = await asyncio.wait_for(watcher.queue.get(), remaining)
                await self._write_event(response, rtype, message)
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            self.cluster.store.unsubscribe(watcher)
        return response

    @staticmethod
    async def _write_event(response: web.StreamResponse, rtype: ResourceType, message: dict[str, Any]) -> None:
        obj = message['object']
        if message['type'] in ('ADDED', 'MODIFIED', 'DELETED'):
            obj['apiVersion'], obj['kind'] = rtype.api_version, rtype.kind
        await response.write(json.dumps(message).encode() + b'\n')

    # ---- service proxy ----------------------------------------------------------------------------

    async def _proxy(self, request: web.BaseRequest, body: bytes, parsed: ApiPath) -> web.StreamResponse:
        assert parsed.name is not None and parsed.subresource is not None
        spec = parsed.name.split(':')
        if spec[0] in ('http', 'https') and len(spec) > 1:
            spec = spec[1:]
        name, port = spec[0], (spec[1] if len(spec) > 1 else '')
        services = self.cluster.registry.lookup('', 'v1', 'services')
        assert services is not None
        service = self.cluster.get(services, parsed.namespace, name)
        ports = (service.get('spec') or {}).get('ports') or []
        port_ok = not port or any(port in (str(p.get('port')), p.get('name')) for p in ports)
        if not port_ok or not self.cluster.service_has_ready_pods(service):
            raise KubernetesError(503, 'ServiceUnavailable', f'no endpoints available for service "{name}"', {})
        if not self.gateway_url:
            raise KubernetesError(503, 'ServiceUnavailable', 'the lab API server has no --gateway-url', {})
        upstream_path = parsed.subresource.removeprefix('proxy').lstrip('/')
        return await self._forward(request, body, f'{self.gateway_url.rstrip("/")}/{upstream_path}')

    async def _forward(self, request: web.BaseRequest, body: bytes, url: str) -> web.StreamResponse:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS | {'authorization'}}
        try:
            async with self._http.request(request.method, url, params=request.query, data=body or None,
                                          headers=headers, allow_redirects=False) as upstream:
                payload = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
                return web.Response(status=upstream.status, body=payload, headers=kept)
        except aiohttp.ClientError as exc:
            raise KubernetesError(503, 'ServiceUnavailable', f'error trying to reach service: {exc}', {})
