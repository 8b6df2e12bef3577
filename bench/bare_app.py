"""The transport floor for W2 over HTTP: a bare ASGI app, served by uvicorn as the service
is, that reads a request's whole body and answers ``BARE_ANSWER_BYTES`` (an environment
variable) bytes of JSON, computing nothing. The same bytes in and out as Gradserve's W2
answer, without any work, say what uvicorn and the loopback sockets alone cost
(``bench.http_stages``). Run: ``BARE_ANSWER_BYTES=N python -m uvicorn bench.bare_app:app``.
"""
from __future__ import annotations

import os
from typing import Any

_SIZE = int(os.environ.get("BARE_ANSWER_BYTES", "2"))
ANSWER = b'"' + b"A" * max(0, _SIZE - 2) + b'"'  # a JSON string of exactly that many bytes
_HEAD = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"),
                     (b"content-length", str(len(ANSWER)).encode())]}
_BODY = {"type": "http.response.body", "body": ANSWER}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any path, any method: the body read to its end, then the fixed answer."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(_HEAD)
    await send(_BODY)
