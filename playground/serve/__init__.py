"""Real-time mitigation: `sleuth serve` for gateways, and an ASGI middleware.

`Guard` (guard.py) holds the engines and the policy's `Enforcer`;
`RequestMapper` (request.py) builds events from forwarded request metadata;
`ServeApp` (app.py) is the ASGI application of `sleuth serve` (nginx
`auth_request`, Envoy `ext_authz`, log ingest, health, Prometheus metrics)
whose engine is owned by one `Worker` thread (worker.py); `SleuthMiddleware`
(middleware.py) does the same in process. uvicorn and prometheus-client come
with the `serve` extra; importing this package needs neither.
"""

from .guard import Guard as Guard
from .middleware import SleuthMiddleware as SleuthMiddleware
from .request import RequestMapper as RequestMapper

__all__ = ["Guard", "RequestMapper", "SleuthMiddleware"]
