"""What a real API server refuses on write, so the lab does not accept what EKS would reject (422 Invalid).

Only the rules the collection's objects can break: object names (DNS-1123 label for Namespaces and Services,
DNS-1123 subdomain otherwise), label keys and values, and the data of ConfigMaps and Secrets (string values only: a
chart that renders numbers, booleans or nulls there fails on a real cluster).
"""

from __future__ import annotations

import re
from typing import Any

from kmock import KubernetesError

DNS1123_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
DNS1123_SUBDOMAIN = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
LABEL_VALUE = re.compile(r'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')
QUALIFIED_NAME = re.compile(r'^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$')
DATA_KEY = re.compile(r'^[-._a-zA-Z0-9]+$')
LABEL_NAMED = ('Namespace', 'Service')  # names that become DNS labels (63 characters)


def _name_problem(kind: str, name: Any) -> str | None:
    if not isinstance(name, str):
        return 'metadata.name: Invalid value: must be a string'
    if kind in LABEL_NAMED:
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            return (f'metadata.name: Invalid value: "{name}": a DNS-1123 label must consist of lower case '
                    f'alphanumeric characters or \'-\', start and end with an alphanumeric character, and be at '
                    f'most 63 characters')
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return (f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
                f'case alphanumeric characters, \'-\' or \'.\', and be at most 253 characters')
    return None


def _label_problems(labels: Any) -> list[str]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return ['metadata.labels: Invalid value: must be a map of strings']
    problems = []
    for key, value in labels.items():
        name = str(key).rsplit('/', 1)[-1]
        if len(name) > 63 or not QUALIFIED_NAME.match(name):
            problems.append(f'metadata.labels: Invalid value: "{key}": name part must be at most 63 characters '
                            f'of alphanumerics, \'-\', \'_\' or \'.\'')
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append(f'metadata.labels: Invalid value: "{value}": a valid label must be a string of at '
                            f'most 63 characters')
    return problems


def _data_problems(kind: str, obj: dict) -> list[str]:
    problems = []
    for field in ('data', 'binaryData', 'stringData'):
        data = obj.get(field)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f'{field}: Invalid value: must be a map of strings')
            continue
        for key, value in data.items():
            if not isinstance(key, str) or not DATA_KEY.match(key) or len(key) > 253:
                problems.append(f'{field}[{key}]: Invalid value: a valid config key must consist of alphanumeric '
                                f'characters, \'-\', \'_\' or \'.\'')
            if not isinstance(value, str):
                # what the real server's JSON decoding says for a non-string value in a map[string]string
                problems.append(f'{field}[{key}]: Invalid value: {type(value).__name__}: '
                                f'{kind}.{field}: expected a string')
    return problems


def validate(kind: str, obj: dict) -> None:
    """Raise 422 Invalid (as the real API server) when ``obj`` breaks one of the rules above."""
    meta = obj.get('metadata') or {}
    problems = [p for p in (_name_problem(kind, meta.get('name')),) if p]
    problems += _label_problems(meta.get('labels'))
    if kind in ('ConfigMap', 'Secret'):
        problems += _data_problems(kind, obj)
    if problems:
        name = meta.get('name')
        raise KubernetesError(422, 'Invalid', f'{kind} "{name}" is invalid: ' + ', '.join(problems),
                              {'name': name, 'kind': kind,
                               'causes': [{'reason': 'FieldValueInvalid', 'message': p} for p in problems]})
