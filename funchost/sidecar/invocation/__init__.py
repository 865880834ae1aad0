"""Service invocation across apps, the parts `invoke.py` (the subsystem) composes:

- `targets.py`: which app a request is for (`/v1.0/invoke/<id>/method/...`, the `dapr-app-id`
  header, Basic auth `dapr-app-id:<id>`, `<app-id>.<namespace>`), the daprd error for an unknown
  or invalid id;
- `headers.py`: what crosses each hop (hop-by-hop headers dropped, caller/callee ids, forwarded
  headers, trace context);
- `remote.py`: the caller sidecar -> target sidecar hop (registry lookups cached, keep-alive
  connections per target);
- `policy.py`: Resiliency `targets.apps.<id>` (retry, timeout, circuit breaker) as daprd applies
  them to an invocation.
"""
