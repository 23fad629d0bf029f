"""Object storage with Kubernetes bookkeeping and a watch event log, kept in memory and (with a journal path)
persisted to the state dir, so a restarted emulator has its objects back, as a real API server (etcd) has.

Objects are plain dicts keyed by (group, plural, namespace, name); cluster-scoped objects use namespace ''.
One global counter provides resourceVersions. Every committed change is appended to a bounded event log
(for watches that resume from a resourceVersion) and pushed synchronously to live watchers' queues.
Writes that change nothing are no-ops (no new resourceVersion, no event), as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

Obj = dict[str, Any]
GroupResource = tuple[str, str]
Key = tuple[str, str, str, str]  # group, plural, namespace ('' if cluster-scoped), name

EVENT_LOG_SIZE = 20000
VOLATILE_METADATA = ('resourceVersion', 'managedFields', 'generation', 'uid', 'creationTimestamp')


def now_rfc3339() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def key_of(gr: GroupResource, obj: Obj) -> Key:
    meta = obj['metadata']
    return gr[0], gr[1], meta.get('namespace') or '', meta['name']


def _comparable(obj: Obj) -> Obj:
    meta = {k: v for k, v in (obj.get('metadata') or {}).items() if k not in VOLATILE_METADATA}
    return {**obj, 'metadata': meta}


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ('metadata', 'status', 'apiVersion', 'kind')}


@dataclass(frozen=True)
class Event:
    rv: int
    gr: GroupResource
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    prev: Obj | None


@dataclass(eq=False)
class Watcher:
    """A live watch: events of one group-resource, optionally one namespace, filtered by ``matches``."""

    gr: GroupResource
    namespace: str | None
    matches: Callable[[Obj], bool]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    def translate(self, event: Event) -> dict[str, Any] | None:
        """The watch event this watcher sees, K8s-style (objects entering/leaving the selection)."""
        if event.gr != self.gr:
            return None
        if self.namespace is not None and (event.obj['metadata'].get('namespace') or '') != self.namespace:
            return None
        now = self.matches(event.obj)
        before = event.prev is not None and self.matches(event.prev)
        if event.type == 'MODIFIED' and now != before:
            kind = 'ADDED' if now else 'DELETED'
        elif now or (event.type == 'DELETED' and before):
            kind = event.type
        else:
            return None
        return {'type': kind, 'object': copy.deepcopy(event.obj)}


class Store:
    def __init__(self, journal: Path | None = None) -> None:
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._log: deque[Event] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: set[Watcher] = set()
        self._journal: IO[str] | None = None
        if journal is not None:
            self._open_journal(journal)

    # ---- persistence: an append-only journal (one JSON line per committed write), compacted at start ----------

    def _open_journal(self, path: Path) -> None:
        """Replay ``path`` (a torn last line from a killed process is ignored), rewrite it compacted, append to it."""
        if path.exists():
            for line in path.read_text(encoding='utf-8').splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                key = tuple(entry['key'])
                if entry['op'] == 'put':
                    self._objects[key] = entry['obj']  # type: ignore[index]
                else:
                    self._objects.pop(key, None)  # type: ignore[arg-type]
                self._rv = max(self._rv, int(entry.get('rv', 0)))
        compacted = path.with_name(path.name + '.tmp')
        with compacted.open('w', encoding='utf-8') as handle:
            for key, obj in sorted(self._objects.items()):
                handle.write(json.dumps({'op': 'put', 'key': key, 'rv': self._rv, 'obj': obj}) + '\n')
        os.replace(compacted, path)
        self._journal = path.open('a', encoding='utf-8')

    def _persist(self, op: str, key: Key, obj: Obj | None) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps({'op': op, 'key': key, 'rv': self._rv, 'obj': obj}) + '\n')
            self._journal.flush()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def keys(self) -> list[Key]:
        return list(self._objects)

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, key: Key) -> Obj | None:
        obj = self._objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, gr: GroupResource, namespace: str | None = None) -> list[Obj]:
        return [copy.deepcopy(obj) for obj in self._iter(gr, namespace)]

    def _iter(self, gr: GroupResource, namespace: str | None) -> Iterator[Obj]:
        for (group, plural, ns, _), obj in sorted(self._objects.items()):
            if (group, plural) == gr and (namespace is None or ns == namespace):
                yield obj

    def namespaced_keys(self, namespace: str) -> list[Key]:
        return [key for key in self._objects if key[2] == namespace]

    def dependents(self, owner_uid: str) -> list[Key]:
        return [key for key, obj in self._objects.items()
                if any(ref.get('uid') == owner_uid for ref in obj['metadata'].get('ownerReferences') or [])]

    def put(self, gr: GroupResource, obj: Obj) -> Obj:
        """Create or update with bookkeeping; returns the stored state (unchanged writes are no-ops)."""
        key = key_of(gr, obj)
        old = self._objects.get(key)
        new = copy.deepcopy(obj)
        meta = new['metadata']
        meta.pop('managedFields', None)
        if old is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        else:
            old_meta = old['metadata']
            meta.update(uid=old_meta['uid'], creationTimestamp=old_meta['creationTimestamp'],
                        generation=old_meta.get('generation', 1))
            if _comparable(new) == _comparable(old):
                return copy.deepcopy(old)
            if _spec_part(new) != _spec_part(old):
                meta['generation'] += 1
        self._rv += 1
        meta['resourceVersion'] = str(self._rv)
        self._objects[key] = new
        self._persist('put', key, new)
        self._emit(Event(self._rv, gr, 'ADDED' if old is None else 'MODIFIED', new, old))
        return copy.deepcopy(new)

    def remove(self, key: Key) -> Obj | None:
        old = self._objects.pop(key, None)
        if old is None:
            return None
        self._rv += 1
        self._persist('remove', key, None)
        gone = {**old, 'metadata': {**old['metadata'], 'resourceVersion': str(self._rv)}}
        self._emit(Event(self._rv, key[:2], 'DELETED', gone, old))
        return copy.deepcopy(gone)

    def _emit(self, event: Event) -> None:
        self._log.append(event)
        for watcher in self._watchers:
            if (message := watcher.translate(event)) is not None:
                watcher.queue.put_nowait(message)

    def events_since(self, rv: int) -> list[Event] | None:
        """Logged events after ``rv``; None if the log no longer reaches back that far."""
        if self._log and self._log[0].rv > rv + 1:
            return None
        return [event for event in self._log if event.rv > rv]

    def subscribe(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
