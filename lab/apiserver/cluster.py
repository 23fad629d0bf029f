"""The API semantics on top of the store: validation, status rules, defaulting, cascades and controllers."""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kmock import KubernetesError

from . import patching, validation
from .defaults import Defaulter, ensure_type_meta, strip_cluster_scope
from .resources import Registry, ResourceType
from .selectors import Requirement, labels_match
from .store import Key, Obj, Store
from .workloads import PODS, WorkloadSimulator, pod_is_ready

NAMESPACES = ('', 'namespaces')
CRDS = ('apiextensions.k8s.io', 'customresourcedefinitions')
DEFAULT_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')
Matcher = Callable[[Obj], bool]


def not_found(rtype: ResourceType, name: str) -> KubernetesError:
    return KubernetesError(404, 'NotFound', f'{rtype.plural} "{name}" not found',
                           {'name': name, 'group': rtype.group, 'kind': rtype.plural})


def _details(rtype: ResourceType, name: str) -> dict[str, str]:
    return {'name': name, 'group': rtype.group, 'kind': rtype.plural}


class Cluster:
    def __init__(self, neverready_marker: str, journal: Path | None = None) -> None:
        """``journal``: the file the objects persist to (kept across restarts); None keeps them in memory only."""
        self.registry = Registry()
        self.store = Store(journal)
        self.defaulter = Defaulter()
        self.workloads = WorkloadSimulator(self.store, neverready_marker)
        for crd in self.store.list(CRDS):  # restored from the journal
            self.registry.register_crd(crd)
        namespace_type = self.registry.lookup('', 'v1', 'namespaces')
        assert namespace_type is not None
        for name in DEFAULT_NAMESPACES:
            if self.store.get(self.key(namespace_type, None, name)) is None:
                self.create(namespace_type, None, {'metadata': {'name': name}})

    @staticmethod
    def key(rtype: ResourceType, namespace: str | None, name: str) -> Key:
        return rtype.group, rtype.plural, namespace if rtype.namespaced else '', name

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(self.key(rtype, namespace, name))
        if obj is None:
            raise not_found(rtype, name)
        return ensure_type_meta(rtype, obj)

    def list(self, rtype: ResourceType, namespace: str | None, matches: Matcher) -> list[Obj]:
        scope = namespace if rtype.namespaced else None
        return [ensure_type_meta(rtype, obj) for obj in self.store.list(rtype.group_resource, scope) if matches(obj)]

    # ---- writes ---------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault('metadata', {})
        if not meta.get('name') and meta.get('generateName'):
            meta['name'] = meta['generateName'] + ''.join(random.choices(string.ascii_lowercase + string.digits, k=5))
        if not meta.get('name'):
            raise KubernetesError(422, 'Invalid', f'{rtype.kind} "" is invalid: metadata.name: Required value', {})
        if rtype.namespaced:
            meta['namespace'] = namespace or meta.get('namespace') or 'default'
            self._require_namespace(meta['namespace'])
        strip_cluster_scope(rtype, obj)
        if self.store.get(self.key(rtype, meta.get('namespace'), meta['name'])) is not None:
            raise KubernetesError(409, 'AlreadyExists', f'{rtype.plural} "{meta["name"]}" already exists',
                                  _details(rtype, meta['name']))
        if rtype.has_status:
            obj.pop('status', None)
        return self._commit(rtype, obj, None, dry_run)

    def update(self, rtype: ResourceType, namespace: str | None, name: str, body: Obj,
               dry_run: bool = False, status_only: bool = False) -> Obj:
        old = self.get(rtype, namespace, name)
        self._check_identity(rtype, body, name)
        self._check_resource_version(rtype, body, old)
        return self._write(rtype, old, copy.deepcopy(body), dry_run, status_only)

    def patch(self, rtype: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes,
              data: Any, dry_run: bool = False, status_only: bool = False) -> Obj:
        key = self.key(rtype, namespace, name)
        if self.store.get(key) is None and content_type == 'application/apply-patch+yaml' and not status_only:
            applied = patching.parse_apply_body(body)
            applied.setdefault('metadata', {})['name'] = name
            return self.create(rtype, namespace, applied, dry_run)
        old = self.get(rtype, namespace, name)
        if isinstance(data, dict):
            self._check_resource_version(rtype, data, old)
        new = patching.apply_patch(content_type, old, body, data)
        if not isinstance(new, dict):
            raise KubernetesError(422, 'Invalid', 'the patch did not produce an object', {})
        self._check_identity(rtype, new, name)
        return self._write(rtype, old, new, dry_run, status_only)

    def _write(self, rtype: ResourceType, old: Obj, new: Obj, dry_run: bool, status_only: bool) -> Obj:
        """Main-resource writes keep the old status; status writes change nothing but the status."""
        if status_only:
            new = {**old, 'status': new.get('status')}
        elif rtype.has_status:
            new['status'] = old.get('status')
        new.setdefault('metadata', {}).update(
            {k: old['metadata'][k] for k in ('name', 'namespace', 'uid', 'creationTimestamp') if k in old['metadata']})
        if new.get('status') is None:
            new.pop('status', None)
        return self._commit(rtype, new, old, dry_run)

    def _commit(self, rtype: ResourceType, obj: Obj, old: Obj | None, dry_run: bool) -> Obj:
        ensure_type_meta(rtype, obj)
        validation.validate(rtype.kind, obj)
        self.defaulter.apply(rtype, obj, old)
        if dry_run:
            return obj
        stored = self.store.put(rtype.group_resource, obj)
        if rtype.group_resource == CRDS:
            self.registry.register_crd(stored)
        self.workloads.on_write(rtype.group_resource, stored)
        meta = stored['metadata']
        return ensure_type_meta(rtype, self.store.get(self.key(rtype, meta.get('namespace'), meta['name'])) or stored)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, dry_run: bool = False) -> Obj:
        obj = self.get(rtype, namespace, name)
        if not dry_run:
            self._delete_key(self.key(rtype, namespace, name))
        return obj

    def delete_collection(self, rtype: ResourceType, namespace: str | None, matches: Matcher,
                          dry_run: bool = False) -> list[Obj]:
        victims = self.list(rtype, namespace, matches)
        if not dry_run:
            for obj in victims:
                self._delete_key(self.key(rtype, obj['metadata'].get('namespace'), obj['metadata']['name']))
        return victims

    def _delete_key(self, key: Key) -> None:
        """Delete with the garbage collector's and the namespace controller's cascades."""
        gone = self.store.remove(key)
        if gone is None:
            return
        gr = key[:2]
        for dependent in self.store.dependents(gone['metadata']['uid']):
            self._delete_key(dependent)
        if gr == NAMESPACES:
            for contained in self.store.namespaced_keys(key[3]):
                self._delete_key(contained)
        if gr == CRDS:
            for rtype in self.registry.unregister_crd(key[3]):
                for obj in self.store.list(rtype.group_resource):
                    self._delete_key(self.key(rtype, obj['metadata'].get('namespace'), obj['metadata']['name']))
        self.workloads.on_delete(gr, gone)

    # ---- checks ---------------------------------------------------------------------------------

    def _require_namespace(self, namespace: str) -> None:
        if self.store.get(('', 'namespaces', '', namespace)) is None:
            raise KubernetesError(404, 'NotFound', f'namespaces "{namespace}" not found',
                                  {'name': namespace, 'kind': 'namespaces'})

    @staticmethod
    def _check_identity(rtype: ResourceType, body: Obj, name: str) -> None:
        body_name = (body.get('metadata') or {}).get('name')
        if body_name and body_name != name:
            message = f'the name of the object ({body_name}) does not match the name on the URL ({name})'
            raise KubernetesError(400, 'BadRequest', message, {})

    @staticmethod
    def _check_resource_version(rtype: ResourceType, body: Obj, old: Obj) -> None:
        wanted = (body.get('metadata') or {}).get('resourceVersion')
        if wanted and wanted != old['metadata']['resourceVersion']:
            name = old['metadata']['name']
            raise KubernetesError(
                409, 'Conflict',
                f'Operation cannot be fulfilled on {rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}": '
                'the object has been modified; please apply your changes to the latest version and try again',
                _details(rtype, name))

    # ---- services -------------------------------------------------------------------------------

    def service_has_ready_pods(self, service: Obj) -> bool:
        selector = (service.get('spec') or {}).get('selector') or {}
        if not selector:
            return False
        reqs = [Requirement(k, 'in', frozenset({v})) for k, v in selector.items()]
        pods = self.store.list(PODS, service['metadata']['namespace'])
        return any(pod_is_ready(pod) and labels_match(reqs, pod['metadata'].get('labels')) for pod in pods)
