"""Resource types: the builtin ones (from kmock's bundled discovery data) plus CRD-registered ones,
and the discovery/OpenAPI documents derived from them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kmock

BUILTIN_GROUP_VERSIONS: tuple[tuple[str, str], ...] = (
    ('', 'v1'),
    ('apps', 'v1'),
    ('batch', 'v1'),
    ('networking.k8s.io', 'v1'),
    ('policy', 'v1'),
    ('autoscaling', 'v2'),
    ('rbac.authorization.k8s.io', 'v1'),
    ('apiextensions.k8s.io', 'v1'),
    ('coordination.k8s.io', 'v1'),
)
SERVED_SUBRESOURCES = {'status'}  # the only subresource the emulator implements generically


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ''
    verbs: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = field(default_factory=frozenset)

    @property
    def api_version(self) -> str:
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """Storage identity: all versions of a group's resource share their objects."""
        return self.group, self.plural

    @property
    def has_status(self) -> bool:
        return 'status' in self.subresources


def _from_kmock(res: kmock.resource, info: kmock.ResourceInfo) -> ResourceType:
    return ResourceType(
        group=res.group or '', version=res.version or '', plural=res.plural or '',
        kind=info.kind or '', namespaced=bool(info.namespaced), singular=info.singular or '',
        verbs=tuple(sorted(info.verbs)), short_names=tuple(sorted(info.shortnames)),
        categories=tuple(sorted(info.categories)),
        subresources=frozenset(info.subresources & SERVED_SUBRESOURCES),
    )


def crd_resource_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition declares (one per served version)."""
    spec = crd.get('spec') or {}
    names = spec.get('names') or {}
    verbs = ('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')
    return [
        ResourceType(
            group=spec.get('group', ''), version=version['name'], plural=names.get('plural', ''),
            kind=names.get('kind', ''), namespaced=spec.get('scope', 'Namespaced') == 'Namespaced',
            singular=names.get('singular') or names.get('kind', '').lower(), verbs=verbs,
            short_names=tuple(names.get('shortNames') or ()), categories=tuple(names.get('categories') or ()),
            subresources=frozenset({'status'} if 'status' in (version.get('subresources') or {}) else ()),
        )
        for version in spec.get('versions') or []
        if version.get('served', True)
    ]


class Registry:
    """All resource types the server serves, keyed by (group, version, plural)."""

    def __init__(self) -> None:
        bundled = kmock.ResourcesArray()
        bundled.load_bundled()
        wanted = set(BUILTIN_GROUP_VERSIONS)
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._crds: dict[str, list[ResourceType]] = {}  # CRD name -> its types
        for res in bundled:
            if (res.group, res.version) in wanted and bundled[res].kind:
                self._add(_from_kmock(res, bundled[res]))

    def _add(self, rtype: ResourceType) -> None:
        self._types[rtype.group, rtype.version, rtype.plural] = rtype

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return next((t for t in self._types.values() if t.api_version == api_version and t.kind == kind), None)

    def register_crd(self, crd: dict[str, Any]) -> None:
        self.unregister_crd(crd['metadata']['name'])
        self._crds[crd['metadata']['name']] = types = crd_resource_types(crd)
        for rtype in types:
            self._add(rtype)

    def unregister_crd(self, name: str) -> list[ResourceType]:
        types = self._crds.pop(name, [])
        for rtype in types:
            self._types.pop((rtype.group, rtype.version, rtype.plural), None)
        return types

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions (the builtin order first; the core group is '')."""
        result: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = result.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted((t for t in self._types.values() if (t.group, t.version) == (group, version)),
                      key=lambda t: t.plural)


# ---- discovery documents ---------------------------------------------------------------------------

def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{'groupVersion': f'{group}/{v}', 'version': v} for v in versions]
    return {'name': group, 'versions': entries, 'preferredVersion': entries[0]}


def api_versions(server_address: str) -> dict[str, Any]:
    return {'kind': 'APIVersions', 'versions': ['v1'],
            'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': server_address}]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_doc(g, vs) for g, vs in registry.group_versions().items() if g]
    return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {'kind': 'APIGroup', 'apiVersion': 'v1', **_group_doc(group, versions)}


def _resource_entries(rtype: ResourceType) -> Iterable[dict[str, Any]]:
    yield {
        'name': rtype.plural, 'singularName': rtype.singular, 'namespaced': rtype.namespaced,
        'kind': rtype.kind, 'verbs': list(rtype.verbs), 'shortNames': list(rtype.short_names),
        'categories': list(rtype.categories),
    }
    for sub in sorted(rtype.subresources):
        yield {'name': f'{rtype.plural}/{sub}', 'singularName': '', 'namespaced': rtype.namespaced,
               'kind': rtype.kind, 'verbs': ['get', 'patch', 'update']}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    return {
        'kind': 'APIResourceList', 'apiVersion': 'v1',
        'groupVersion': f'{group}/{version}' if group else version,
        'resources': [entry for rtype in types for entry in _resource_entries(rtype)],
    }


# ---- OpenAPI ------------------------------------------------------------------------------------------
# Minimal documents: kubectl and helm fetch them for client-side validation and for the fieldValidation
# capability check. The v3 documents declare, per kind, a PATCH operation with a ``fieldValidation``
# parameter, so clients rely on (the emulator's absent) server-side validation instead of schemas;
# /openapi/v2 is an empty document, so client-side validation finds no schema and skips.

OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'


def openapi_v2(version: str) -> dict[str, Any]:
    return {'swagger': '2.0', 'info': {'title': 'Kubernetes (lab)', 'version': version},
            'paths': {}, 'definitions': {}}


def _gv_path(group: str, version: str) -> str:
    return f'apis/{group}/{version}' if group else f'api/{version}'


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc_hash = hashlib.sha256(repr(registry.in_group_version(group, version)).encode()).hexdigest()[:16]
            path = _gv_path(group, version)
            paths[path] = {'serverRelativeURL': f'/openapi/v3/{path}?hash={doc_hash}'}
    return {'paths': paths}


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    param = {'name': 'fieldValidation', 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}}
    paths = {}
    for rtype in types:
        scope = '/namespaces/{namespace}' if rtype.namespaced else ''
        gvk = {'group': group, 'version': version, 'kind': rtype.kind}
        paths[f'/{_gv_path(group, version)}{scope}/{rtype.plural}/{{name}}'] = {'patch': {
            'operationId': f'patch{rtype.kind}', 'parameters': [param],
            'responses': {'200': {'description': 'OK'}},
            'x-kubernetes-action': 'patch', 'x-kubernetes-group-version-kind': gvk,
        }}
    return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes (lab)', 'version': version},
            'paths': paths, 'components': {'schemas': {}}}
