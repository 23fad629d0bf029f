"""The workload simulator: what the deployment and replicaset controllers and the kubelet would do.

Runs synchronously after every write of a Deployment or ReplicaSet (and after a controlled Pod is deleted):

* a Deployment owns one ReplicaSet per distinct pod template (``pod-template-hash`` = a stable hash of the
  template); the current one is scaled to ``spec.replicas``;
* a ReplicaSet owns Pods (labels from its template), Running and Ready at once, unless a container image tag
  ends with the never-ready marker, or an env entry reads a key of a Secret that does not exist when the pod is
  created (the kubelet's CreateContainerConfigError): then Running with Ready=False;
* old ReplicaSets are scaled to 0 only once the current one is fully ready (a never-ready rollout therefore
  keeps the old pods serving, as a stuck rolling update does);
* Deployment and ReplicaSet status are computed as the controllers report them (what ``helm --wait``,
  kstatus and ``kubectl rollout status`` read).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from typing import Any

from .store import Obj, Store, now_rfc3339

DEPLOYMENTS = ('apps', 'deployments')
REPLICASETS = ('apps', 'replicasets')
PODS = ('', 'pods')
SECRETS = ('', 'secrets')
HASH_LABEL = 'pod-template-hash'
REVISION = 'deployment.kubernetes.io/revision'
_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return ''.join(chars)


def template_hash(template: Obj) -> str:
    stripped = copy.deepcopy(template)
    (stripped.get('metadata') or {}).get('labels', {}).pop(HASH_LABEL, None)
    digest = hashlib.sha256(json.dumps(stripped, sort_keys=True).encode()).digest()
    return _encode(int.from_bytes(digest[:8], 'big'), 10)


def controller_uid(obj: Obj) -> str | None:
    refs = obj['metadata'].get('ownerReferences') or []
    return next((ref.get('uid') for ref in refs if ref.get('controller')), None)


def owner_reference(owner: Obj) -> dict[str, Any]:
    meta = owner['metadata']
    return {'apiVersion': owner['apiVersion'], 'kind': owner['kind'], 'name': meta['name'],
            'uid': meta['uid'], 'controller': True, 'blockOwnerDeletion': True}


def image_tag(image: str) -> str:
    last = image.split('@', 1)[0].rsplit('/', 1)[-1]
    return last.split(':', 1)[1] if ':' in last else 'latest'


def pod_is_ready(pod: Obj) -> bool:
    conditions = (pod.get('status') or {}).get('conditions') or []
    return any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in conditions)


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith('%'):
        scaled = int(value[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value or 0)


def max_unavailable(deployment: Obj) -> int:
    spec = deployment['spec']
    desired = spec.get('replicas', 1)
    strategy = spec.get('strategy') or {}
    if strategy.get('type') != 'RollingUpdate' or desired == 0:
        return 0
    rolling = strategy.get('rollingUpdate') or {}
    surge = _scaled(rolling.get('maxSurge', '25%'), desired, round_up=True)
    unavailable = _scaled(rolling.get('maxUnavailable', '25%'), desired, round_up=False)
    return 1 if surge == 0 and unavailable == 0 else unavailable


def _condition(previous: list[Obj], type_: str, ok: bool, reason: str, message: str) -> Obj:
    """A condition that keeps its timestamps while nothing about it changes (so re-writes are no-ops)."""
    status = 'True' if ok else 'False'
    old = next((c for c in previous if c.get('type') == type_), None)
    if old and (old.get('status'), old.get('reason'), old.get('message')) == (status, reason, message):
        return old
    stamp = now_rfc3339()
    transition = old['lastTransitionTime'] if old and old.get('status') == status else stamp
    return {'type': type_, 'status': status, 'lastUpdateTime': stamp, 'lastTransitionTime': transition,
            'reason': reason, 'message': message}


class WorkloadSimulator:
    def __init__(self, store: Store, neverready_marker: str) -> None:
        self._store = store
        self._marker = neverready_marker

    def on_write(self, gr: tuple[str, str], obj: Obj) -> None:
        if gr == DEPLOYMENTS:
            self.reconcile_deployment(obj)
        elif gr == REPLICASETS:
            self._reconcile_replicaset_and_owner(obj)

    def on_delete(self, gr: tuple[str, str], obj: Obj) -> None:
        """A deleted Pod of a live ReplicaSet is replaced, as the replicaset controller does."""
        owner_uid = controller_uid(obj)
        if gr != PODS or owner_uid is None:
            return
        namespace = obj['metadata']['namespace']
        owner = self._find(REPLICASETS, namespace, owner_uid)
        if owner is not None:
            self._reconcile_replicaset_and_owner(owner)

    def _find(self, gr: tuple[str, str], namespace: str, uid: str | None) -> Obj | None:
        return next((obj for obj in self._store.list(gr, namespace) if obj['metadata']['uid'] == uid), None)

    def _reconcile_replicaset_and_owner(self, replicaset: Obj) -> None:
        self.reconcile_replicaset(replicaset)
        owner_uid = controller_uid(replicaset)
        namespace = replicaset['metadata']['namespace']
        owner = self._find(DEPLOYMENTS, namespace, owner_uid)
        if owner is not None:
            self.reconcile_deployment(owner)

    # ---- Deployment -------------------------------------------------------------------------------

    def reconcile_deployment(self, deployment: Obj) -> None:
        meta, spec = deployment['metadata'], deployment['spec']
        desired = spec.get('replicas', 1)
        owned = [rs for rs in self._store.list(REPLICASETS, meta['namespace']) if controller_uid(rs) == meta['uid']]
        current_hash = template_hash(spec['template'])
        current = next((rs for rs in owned if rs['metadata']['labels'].get(HASH_LABEL) == current_hash), None)
        old = [rs for rs in owned if rs is not current]
        revision = self._revision(current, old)
        current = self.reconcile_replicaset(self._desired_replicaset(deployment, current, current_hash, revision))
        if current['status']['readyReplicas'] >= desired:
            old = [self._scale_down(rs) for rs in old]
        self._update_deployment_status(deployment, current, old, revision)

    @staticmethod
    def _revision(current: Obj | None, old: list[Obj]) -> int:
        def rev(rs: Obj) -> int:
            return int((rs['metadata'].get('annotations') or {}).get(REVISION, '0'))
        latest_old = max((rev(rs) for rs in old), default=0)
        if current is not None and rev(current) > latest_old:
            return rev(current)
        return latest_old + 1

    def _desired_replicaset(self, deployment: Obj, current: Obj | None, pod_hash: str, revision: int) -> Obj:
        meta, spec = deployment['metadata'], deployment['spec']
        template = copy.deepcopy(spec['template'])
        template.setdefault('metadata', {}).setdefault('labels', {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec.get('selector') or {})
        selector.setdefault('matchLabels', {})[HASH_LABEL] = pod_hash
        replicaset = current or {
            'apiVersion': 'apps/v1', 'kind': 'ReplicaSet',
            'metadata': {'name': f"{meta['name']}-{pod_hash}", 'namespace': meta['namespace'],
                         'ownerReferences': [owner_reference(deployment)]},
        }
        rs_meta = replicaset['metadata']
        rs_meta['labels'] = dict(template['metadata']['labels'])
        rs_meta['annotations'] = {**(rs_meta.get('annotations') or {}), REVISION: str(revision),
                                  'deployment.kubernetes.io/desired-replicas': str(spec.get('replicas', 1))}
        replicaset['spec'] = {'replicas': spec.get('replicas', 1), 'selector': selector, 'template': template}
        return self._store.put(REPLICASETS, replicaset)

    def _scale_down(self, replicaset: Obj) -> Obj:
        if replicaset['spec'].get('replicas', 1) != 0:
            replicaset['spec']['replicas'] = 0
            replicaset = self._store.put(REPLICASETS, replicaset)
        return self.reconcile_replicaset(replicaset)

    def _update_deployment_status(self, deployment: Obj, current: Obj, old: list[Obj], revision: int) -> None:
        desired = deployment['spec'].get('replicas', 1)
        everything = [current, *old]
        replicas = sum(rs['status']['replicas'] for rs in everything)
        ready = sum(rs['status']['readyReplicas'] for rs in everything)
        updated = current['status']['replicas']
        complete = updated == desired and replicas == desired and current['status']['readyReplicas'] >= desired
        previous = (deployment.get('status') or {}).get('conditions') or []
        rs_name = current['metadata']['name']
        status: Obj = {
            'observedGeneration': deployment['metadata']['generation'],
            'replicas': replicas, 'updatedReplicas': updated, 'readyReplicas': ready,
            'availableReplicas': ready,
            'conditions': [
                _condition(previous, 'Available', ready >= desired - max_unavailable(deployment),
                           *(('MinimumReplicasAvailable', 'Deployment has minimum availability.')
                             if ready >= desired - max_unavailable(deployment) else
                             ('MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'))),
                _condition(previous, 'Progressing', True,
                           *(('NewReplicaSetAvailable', f'ReplicaSet "{rs_name}" has successfully progressed.')
                             if complete else ('ReplicaSetUpdated', f'ReplicaSet "{rs_name}" is progressing.'))),
            ],
        }
        if replicas > ready:
            status['unavailableReplicas'] = replicas - ready
        deployment['status'] = status
        annotations = deployment['metadata'].setdefault('annotations', {})
        annotations[REVISION] = str(revision)
        self._store.put(DEPLOYMENTS, deployment)

    # ---- ReplicaSet and Pods ---------------------------------------------------------------------

    def reconcile_replicaset(self, replicaset: Obj) -> Obj:
        meta = replicaset['metadata']
        pods = [p for p in self._store.list(PODS, meta['namespace']) if controller_uid(p) == meta['uid']]
        desired = replicaset['spec'].get('replicas', 1)
        while len(pods) < desired:
            pods.append(self._store.put(PODS, self._new_pod(replicaset)))
        pods.sort(key=pod_is_ready)  # surplus: remove not-ready pods first
        while len(pods) > desired:
            victim = pods.pop(0)['metadata']
            self._store.remove(('', 'pods', victim['namespace'], victim['name']))
        ready = sum(pod_is_ready(p) for p in pods)
        replicaset['status'] = {'replicas': len(pods), 'fullyLabeledReplicas': len(pods), 'readyReplicas': ready,
                                'availableReplicas': ready, 'observedGeneration': meta['generation']}
        return self._store.put(REPLICASETS, replicaset)

    def _new_pod(self, replicaset: Obj) -> Obj:
        meta = replicaset['metadata']
        template = replicaset['spec'].get('template') or {}
        spec = copy.deepcopy(template.get('spec') or {})
        spec.setdefault('restartPolicy', 'Always')
        spec['nodeName'] = 'lab-node'
        suffix = _encode(random.getrandbits(40), 5)
        containers = spec.get('containers') or []
        ready = not any(image_tag(c.get('image', '')).endswith(self._marker) for c in containers) \
            and not self.missing_secret_keys(meta['namespace'], containers)
        return {
            'apiVersion': 'v1', 'kind': 'Pod',
            'metadata': {'name': f"{meta['name']}-{suffix}", 'namespace': meta['namespace'],
                         'labels': dict((template.get('metadata') or {}).get('labels') or {}),
                         'annotations': dict((template.get('metadata') or {}).get('annotations') or {}),
                         'ownerReferences': [owner_reference(replicaset)]},
            'spec': spec,
            'status': self._pod_status(containers, ready),
        }

    def missing_secret_keys(self, namespace: str, containers: list[Obj]) -> list[str]:
        """``secret/key`` of every non-optional env secretKeyRef whose Secret or key does not exist."""
        secrets = {s['metadata']['name']: s for s in self._store.list(SECRETS, namespace)}
        missing = []
        for container in containers:
            for entry in container.get('env') or []:
                ref = (entry.get('valueFrom') or {}).get('secretKeyRef')
                if not ref or ref.get('optional'):
                    continue
                data = (secrets.get(ref.get('name')) or {}).get('data') or {}
                if ref.get('key') not in data:
                    missing.append(f"{ref.get('name')}/{ref.get('key')}")
        return missing

    @staticmethod
    def _pod_status(containers: list[Obj], ready: bool) -> Obj:
        stamp = now_rfc3339()
        flag = 'True' if ready else 'False'
        conditions = [('PodScheduled', 'True'), ('Initialized', 'True'), ('ContainersReady', flag), ('Ready', flag)]
        return {
            'phase': 'Running', 'hostIP': '10.0.0.10',
            'podIP': f'10.244.{random.randint(0, 255)}.{random.randint(2, 254)}',
            'startTime': stamp, 'qosClass': 'BestEffort',
            'conditions': [{'type': t, 'status': s, 'lastTransitionTime': stamp} for t, s in conditions],
            'containerStatuses': [
                {'name': c.get('name', ''), 'image': c.get('image', ''), 'imageID': '', 'ready': ready,
                 'started': True, 'restartCount': 0, 'state': {'running': {'startedAt': stamp}}}
                for c in containers
            ],
        }
