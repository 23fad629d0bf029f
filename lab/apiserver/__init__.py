"""A Kubernetes API emulator for the lab: enough of the API for helm 3/4, kubectl, kubernetes.core and the
Python client to deploy, wait, roll back and uninstall over plain http (with a token file in its state dir, a wrong bearer token gets 401: ``auth``).

Run: ``python -m lab.apiserver --host 127.0.0.1 --port P --state-dir DIR [--gateway-url URL]
[--neverready-marker -neverready] [--cluster-name lab]`` (``--port 0`` picks a port and writes it to DIR/port).

Design
------
* kmock 0.8 is the base. ``kmock.Server`` runs the aiohttp server (binding, port, lifecycle) and
  ``server.LabApiServer`` is a ``kmock.RawHandler`` whose request dispatch (``__call__``) is replaced: kmock's
  own request parsing cannot parse ``/api/v1/namespaces`` or protobuf bodies and its DSL routing has no
  notion of selectors, PUT, patch types or subresources, so the router is plain aiohttp code. The builtin
  resource types come from kmock's bundled discovery data (``kmock.ResourcesArray.load_bundled``), restricted
  to the group-versions a gateway deployment uses; errors are ``kmock.KubernetesError`` rendered as
  Kubernetes ``Status`` bodies (NotFound, AlreadyExists, Conflict, ... with the reasons clients test for).
* ``store`` keeps objects in memory with resourceVersion/uid/generation/creationTimestamp bookkeeping and a
  bounded event log; watches replay from a resourceVersion (410 Expired when too old) and then stream live
  events (newline-delimited JSON; sendInitialEvents with the initial-events-end bookmark is honoured).
* ``cluster`` holds the API semantics: status only changes through ``/status`` (or the simulators), no-op
  writes do not bump resourceVersion, generation moves only with non-metadata/status changes, deletions
  cascade through ownerReferences, namespaces and CRDs; creating a CRD registers its kinds for discovery.
* ``defaults`` plays the defaulters and the cloud controller (Service clusterIP/nodePorts and a
  ``<name>.<namespace>.elb.lab.local`` load-balancer hostname); ``workloads`` plays the deployment and
  replicaset controllers and the kubelet, synchronously on write (no background tasks, no sleeps).
* ``patching`` implements the patch types; ``protobuf`` decodes the protobuf bodies of client-go's typed
  clients (Secret, ConfigMap, Namespace, DeleteOptions); ``resources`` builds discovery and minimal OpenAPI
  documents; ``server`` also serves the service proxy and the lab's own ``/_lab/`` endpoints.

Limits (by design)
------------------
No RBAC (anonymous requests are allowed; see ``auth`` for bearer tokens), no admission/schema validation (``fieldValidation`` is accepted and ignored);
server-side apply is a create-or-strategic-merge (no managedFields, field ownership or conflicts, fields
dropped from an applied manifest stay); strategic merge knows only the common merge keys; no finalizers or
graceful deletion (deletes are immediate, every propagation policy cascades); no pagination (``limit`` is
ignored, everything is returned); responses are always JSON (no Table, no protobuf); only the ``status``
subresource (no ``scale``, ``log``, ``exec``, ``portforward``); StatefulSets, DaemonSets, Jobs, HPAs, PDBs,
NetworkPolicies and custom resources are stored, never acted on; no Endpoints/EndpointSlices; the service
proxy forwards every service to the one ``--gateway-url`` (404 for a missing Service, as in Kubernetes;
503 when no Ready pod is selected); protobuf bodies of other kinds (``kubectl create deployment``) get 415.
With ``--persist`` the objects are journaled to STATE_DIR/objects.jsonl and restored on start (a killed and
restarted emulator keeps its state, as a real cluster does); without it state lives for the process lifetime.
"""
