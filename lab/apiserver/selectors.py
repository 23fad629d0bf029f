"""Label and field selectors, in their query-string and their object (``matchLabels``) forms."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kmock import KubernetesError

_SET_RE = re.compile(r'^\s*(!?)\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$')
_CMP_RE = re.compile(r'^\s*([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=()]*)\s*$')
_EXISTS_RE = re.compile(r'^\s*(!?)\s*([^\s!=()]+)\s*$')


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: ``key op values`` (op: in, notin, exists, !exists)."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == 'exists':
            return self.key in labels
        if self.op == '!exists':
            return self.key not in labels
        if self.op == 'in':
            return self.key in labels and labels[self.key] in self.values
        return labels.get(self.key) not in self.values  # notin (and !=): absent keys match


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ''
    for char in text:
        depth += (char == '(') - (char == ')')
        if char == ',' and depth == 0:
            terms.append(current)
            current = ''
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _parse_term(term: str) -> Requirement:
    if match := _SET_RE.match(term):
        if match.group(1):
            raise _bad_selector(term)
        values = frozenset(v.strip() for v in match.group(4).split(',') if v.strip())
        return Requirement(match.group(2), match.group(3), values)
    if match := _CMP_RE.match(term):
        key, op, value = match.groups()
        return Requirement(key, 'notin' if op == '!=' else 'in', frozenset({value}))
    if match := _EXISTS_RE.match(term):
        return Requirement(match.group(2), '!exists' if match.group(1) else 'exists')
    raise _bad_selector(term)


def _bad_selector(term: str) -> KubernetesError:
    return KubernetesError(400, 'BadRequest', f'unable to parse requirement: {term!r}', {})


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,!e,f in (x,y)`` into requirements (all must hold)."""
    return [_parse_term(term) for term in _split_terms(text or '')]


def selector_from_spec(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Requirements of a ``{matchLabels, matchExpressions}`` selector (an empty selector matches all)."""
    selector = selector or {}
    reqs = [Requirement(k, 'in', frozenset({v})) for k, v in (selector.get('matchLabels') or {}).items()]
    ops = {'In': 'in', 'NotIn': 'notin', 'Exists': 'exists', 'DoesNotExist': '!exists'}
    for expr in selector.get('matchExpressions') or []:
        reqs.append(Requirement(expr['key'], ops[expr['operator']], frozenset(expr.get('values') or [])))
    return reqs


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(req.matches(labels or {}) for req in reqs)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split('.'):
        value = value.get(part) if isinstance(value, Mapping) else None
    return '' if value is None else str(value)


def parse_field_selector(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for ``metadata.name=x,metadata.namespace!=y`` (any dotted field path)."""
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(text or ''):
        match = _CMP_RE.match(term)
        if not match:
            raise _bad_selector(term)
        path, op, value = match.groups()
        terms.append((path, op != '!=', value))
    return lambda obj: all((_field_value(obj, path) == value) == equal for path, equal, value in terms)
