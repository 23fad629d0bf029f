"""The patch flavours of the Kubernetes API, applied to plain dicts.

* merge patch (RFC 7386);
* strategic merge patch, approximated: dicts merge, ``null`` deletes, lists are replaced except the few
  well-known lists of named items (containers, env, ports, volumes, ...) which merge by their key;
  ``$patch``/``$setElementOrder``/``$retainKeys`` directives are honoured loosely or dropped;
* JSON patch (RFC 6902, via ``jsonpatch``);
* server-side apply, approximated as create-or-strategic-merge (no field ownership, no conflicts).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import yaml
from kmock import KubernetesError

# list field name -> merge key (from the Kubernetes API's patchMergeKey tags, the common ones)
MERGE_KEYS: dict[str, str] = {
    'containers': 'name',
    'initContainers': 'name',
    'ephemeralContainers': 'name',
    'env': 'name',
    'volumes': 'name',
    'volumeMounts': 'mountPath',
    'imagePullSecrets': 'name',
    'ports': 'port',  # Service ports; container ports use containerPort (handled below)
    'conditions': 'type',
    'ownerReferences': 'uid',
    'tolerations': 'key',
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    key = MERGE_KEYS.get(field)
    if field == 'ports' and all('containerPort' in item for item in items):
        key = 'containerPort'
    return key if key and all(key in item for item in items if item.get('$patch') != 'delete') else None


def _merge_list(field: str, target: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, patch)
    if key is None or not all(isinstance(item, dict) and key in item for item in target):
        return [_strip_directives(item) for item in patch]
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get('$patch') == 'delete':
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith('$') and v is not None}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def strategic_merge(target: Any, patch: Any) -> Any:
    """An approximation of the strategic merge patch (see the module docstring)."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return _strip_directives(patch)
    if patch.get('$patch') == 'replace':
        return _strip_directives(patch)
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith('$'):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    try:
        return jsonpatch.apply_patch(target, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise KubernetesError(422, 'Invalid', f'the server rejected our request due to an error in our request: {exc}',
                              {})


def parse_apply_body(body: bytes) -> dict[str, Any]:
    """Server-side apply bodies are YAML (JSON is valid YAML)."""
    try:
        data = yaml.safe_load(body.decode('utf-8'))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KubernetesError(400, 'BadRequest', f'error decoding YAML: {exc}', {})
    if not isinstance(data, dict):
        raise KubernetesError(400, 'BadRequest', 'the apply body must be an object', {})
    return data


def apply_patch(content_type: str, target: dict[str, Any], body: bytes, data: Any) -> dict[str, Any]:
    """Apply a PATCH body of the given content type to ``target`` (a deep copy is returned)."""
    if content_type == 'application/merge-patch+json':
        return merge_patch(target, data)
    if content_type == 'application/strategic-merge-patch+json':
        return strategic_merge(target, data)
    if content_type == 'application/json-patch+json':
        return json_patch(target, data)
    if content_type == 'application/apply-patch+yaml':
        return strategic_merge(target, parse_apply_body(body))
    accepted = ('application/json-patch+json, application/merge-patch+json, '
                'application/strategic-merge-patch+json, application/apply-patch+yaml')
    raise KubernetesError(415, 'UnsupportedMediaType',
                          f'the body of the request was in an unknown format - accepted media types include: {accepted}', {})
