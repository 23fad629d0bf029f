"""Defaulting done on every write, as the API server's defaulters and the cloud controller would do it."""

from __future__ import annotations

import base64
import itertools
import os
from typing import Any

from .resources import ResourceType
from .store import Obj, now_rfc3339


class Defaulter:
    """Mutates objects before they are stored. Holds the cluster-IP and node-port allocators."""

    def __init__(self) -> None:
        self._ips = (f'10.96.{n // 250}.{n % 250 + 2}' for n in itertools.count(8))
        self._node_ports = itertools.count(30080)

    def apply(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        handler = getattr(self, f'_{rtype.kind.lower()}', None)
        if rtype.group in ('', 'apps', 'apiextensions.k8s.io') and handler is not None:
            handler(obj, old)

    @staticmethod
    def _namespace(obj: Obj, old: Obj | None) -> None:
        obj['metadata'].setdefault('labels', {})['kubernetes.io/metadata.name'] = obj['metadata']['name']
        obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
        obj['status'] = (old or {}).get('status') or {'phase': 'Active'}

    @staticmethod
    def _secret(obj: Obj, old: Obj | None) -> None:
        string_data = obj.pop('stringData', None) or {}
        data = obj.setdefault('data', {}) if string_data else obj.get('data')
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault('type', 'Opaque')

    @staticmethod
    def _deployment(obj: Obj, old: Obj | None) -> None:
        spec = obj.setdefault('spec', {})
        spec.setdefault('replicas', 1)
        spec.setdefault('revisionHistoryLimit', 10)
        spec.setdefault('progressDeadlineSeconds', 600)
        strategy = spec.setdefault('strategy', {})
        strategy.setdefault('type', 'RollingUpdate')
        if strategy['type'] == 'RollingUpdate':
            rolling = strategy.setdefault('rollingUpdate', {})
            rolling.setdefault('maxUnavailable', '25%')
            rolling.setdefault('maxSurge', '25%')

    def _service(self, obj: Obj, old: Obj | None) -> None:
        spec = obj.setdefault('spec', {})
        old_spec = (old or {}).get('spec') or {}
        spec.setdefault('type', 'ClusterIP')
        if not spec.get('clusterIP'):
            spec['clusterIP'] = old_spec.get('clusterIP') or next(self._ips)
        spec.setdefault('clusterIPs', [spec['clusterIP']])
        spec.setdefault('sessionAffinity', 'None')
        spec.setdefault('ipFamilies', ['IPv4'])
        spec.setdefault('ipFamilyPolicy', 'SingleStack')
        spec.setdefault('internalTrafficPolicy', 'Cluster')
        self._service_ports(spec, old_spec)
        self._load_balancer_status(obj)

    def _service_ports(self, spec: Obj, old_spec: Obj) -> None:
        old_node_ports = {p.get('port'): p.get('nodePort') for p in old_spec.get('ports') or []}
        for port in spec.get('ports') or []:
            port.setdefault('protocol', 'TCP')
            port.setdefault('targetPort', port.get('port'))
            if spec['type'] in ('NodePort', 'LoadBalancer') and not port.get('nodePort'):
                port['nodePort'] = old_node_ports.get(port.get('port')) or next(self._node_ports)

    @staticmethod
    def _load_balancer_status(obj: Obj) -> None:
        """Plays the cloud controller: a LoadBalancer Service gets an ingress hostname once."""
        status = obj.setdefault('status', {})
        if obj['spec']['type'] != 'LoadBalancer':
            status['loadBalancer'] = {}
        elif not (status.get('loadBalancer') or {}).get('ingress'):
            meta = obj['metadata']
            # PORTKEY_LAB_LB_HOSTNAME_FORMAT: a cloud's naming, e.g. a moto NLB's '{name}-{namespace}-1.<region>.elb...'
            hostname = os.environ.get('PORTKEY_LAB_LB_HOSTNAME_FORMAT',
                                      '{name}.{namespace}.elb.lab.local').format(**meta)
            status['loadBalancer'] = {'ingress': [{'hostname': hostname}]}

    @staticmethod
    def _customresourcedefinition(obj: Obj, old: Obj | None) -> None:
        spec = obj.get('spec') or {}
        old_conditions = ((old or {}).get('status') or {}).get('conditions')
        stamp = now_rfc3339()
        conditions = old_conditions or [
            {'type': t, 'status': 'True', 'reason': r, 'message': m, 'lastTransitionTime': stamp}
                      for t, r, m in (('NamesAccepted', 'NoConflicts', 'no conflicts found for CRD names'),
                                      ('Established', 'InitialNamesAccepted', 'the initial names have been accepted'))]
        obj['status'] = {
            'acceptedNames': spec.get('names') or {},
            'conditions': conditions,
            'storedVersions': [v['name'] for v in spec.get('versions') or [] if v.get('storage')],
        }


def strip_cluster_scope(rtype: ResourceType, obj: Obj) -> None:
    if not rtype.namespaced:
        obj['metadata'].pop('namespace', None)


def ensure_type_meta(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    obj['apiVersion'], obj['kind'] = rtype.api_version, rtype.kind
    return obj
