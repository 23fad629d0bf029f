"""A minimal decoder of Kubernetes protobuf bodies (``application/vnd.kubernetes.protobuf``).

client-go's typed clients (helm's release storage, ``kubectl create namespace``) send protobuf and do not
fall back to JSON on 415, so the kinds they write are decoded here: Secret, ConfigMap, Namespace and
DeleteOptions. Other kinds raise ``KubernetesError(415)``. Field numbers come from k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from kmock import KubernetesError

MAGIC = b'k8s\x00'

# A schema maps a field number to (json name, type); a type is a scalar name or a nested schema.
Schema = dict[int, tuple[str, Any]]

TIME: Schema = {1: ('seconds', 'int'), 2: ('nanos', 'int')}
OWNER_REFERENCE: Schema = {
    1: ('kind', 'str'), 3: ('name', 'str'), 4: ('uid', 'str'), 5: ('apiVersion', 'str'),
    6: ('controller', 'bool'), 7: ('blockOwnerDeletion', 'bool'),
}
OBJECT_META: Schema = {
    1: ('name', 'str'), 2: ('generateName', 'str'), 3: ('namespace', 'str'), 5: ('uid', 'str'),
    6: ('resourceVersion', 'str'), 7: ('generation', 'int'), 8: ('creationTimestamp', TIME),
    11: ('labels', 'map_str'), 12: ('annotations', 'map_str'),
    13: ('ownerReferences', [OWNER_REFERENCE]), 14: ('finalizers', ['str']),
}
SCHEMAS: dict[str, Schema] = {
    'Secret': {1: ('metadata', OBJECT_META), 2: ('data', 'map_bytes'), 3: ('type', 'str'),
               4: ('stringData', 'map_str'), 5: ('immutable', 'bool')},
    'ConfigMap': {1: ('metadata', OBJECT_META), 2: ('data', 'map_str'), 3: ('binaryData', 'map_bytes'),
                  4: ('immutable', 'bool')},
    'Namespace': {1: ('metadata', OBJECT_META), 2: ('spec', {1: ('finalizers', ['str'])})},
    'DeleteOptions': {1: ('gracePeriodSeconds', 'int'),
                      2: ('preconditions', {1: ('uid', 'str'), 2: ('resourceVersion', 'str')}),
                      3: ('orphanDependents', 'bool'), 4: ('propagationPolicy', 'str'), 5: ('dryRun', ['str'])},
}
UNKNOWN: Schema = {1: ('typeMeta', {1: ('apiVersion', 'str'), 2: ('kind', 'str')}), 2: ('raw', 'raw')}
MAP_ENTRY: Schema = {1: ('key', 'str'), 2: ('value', 'raw')}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The raw (field number, value) pairs of a message: ints for varints, bytes for length-delimited."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos:pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4  # fixed64/fixed32: unused by these kinds
        else:
            raise ValueError(f'unsupported protobuf wire type {wire}')
    return fields


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == 'str':
        return value.decode('utf-8') if isinstance(value, bytes) else str(value)
    if kind == 'int':
        return value - (1 << 64) if isinstance(value, int) and value >= 1 << 63 else value
    if kind == 'bool':
        return bool(value)
    return value  # raw bytes


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, str) and kind.startswith('map_'):
            entry = _decode(value, MAP_ENTRY) if isinstance(value, bytes) else {}
            raw = entry.get('value', b'')
            item = base64.b64encode(raw).decode() if kind == 'map_bytes' else raw.decode('utf-8')
            result.setdefault(name, {})[entry.get('key', '')] = item
        elif isinstance(kind, list):
            item_kind = kind[0]
            item = _decode(value, item_kind) if isinstance(item_kind, dict) else _scalar(item_kind, value)
            result.setdefault(name, []).append(item)
        elif isinstance(kind, dict):
            result[name] = _time(_decode(value, kind)) if kind is TIME else _decode(value, kind)
        else:
            result[name] = _scalar(kind, value)
    return result


def _time(value: dict[str, Any]) -> str:
    moment = datetime.datetime.fromtimestamp(value.get('seconds', 0), tz=datetime.UTC)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def decode(body: bytes) -> dict[str, Any]:
    """Decode an enveloped protobuf body into the JSON form of the object."""
    if not body.startswith(MAGIC):
        raise KubernetesError(400, 'BadRequest', 'protobuf body without the k8s envelope', {})
    envelope = _decode(body[len(MAGIC):], UNKNOWN)
    type_meta = envelope.get('typeMeta', {})
    kind = type_meta.get('kind', '')
    if kind not in SCHEMAS:
        raise KubernetesError(415, 'UnsupportedMediaType',
                              f'the lab API server decodes protobuf only for {sorted(SCHEMAS)}, not {kind!r}', {})
    obj = _decode(envelope.get('raw', b''), SCHEMAS[kind])
    return {'apiVersion': type_meta.get('apiVersion', 'v1'), 'kind': kind, **obj}
