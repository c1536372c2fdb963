"""``pocketgpt serve``: the OpenAI-compatible API and the web UI.

    pocketgpt serve --checkpoint runs/sft
    pocketgpt serve --checkpoint runs/base --checkpoint runs/sft --port 8000   # side by side in the UI
    POCKETGPT_API_KEY=secret pocketgpt serve --checkpoint runs/sft --host 0.0.0.0
"""

from __future__ import annotations

import ipaddress
import os
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="serve checkpoints over an OpenAI-compatible API and a web UI",
        description="Serve one or more checkpoints: POST /v1/chat/completions, /v1/completions, GET /v1/models, "
                    "/health, and the web UI at /. Binds to loopback unless --host says otherwise.",
    )
    p.add_argument("--checkpoint", action="append", required=True, metavar="RUN_DIR",
                   help="run directory or checkpoint (repeat for side-by-side; NAME=RUN_DIR sets the model id)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=None,
                   help="require 'Authorization: Bearer KEY' on /v1/* (default: $POCKETGPT_API_KEY if set)")
    p.add_argument("--max-tokens-cap", type=int, default=1024, help="largest max_tokens a request may ask for")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request body (413 above it)")
    p.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request, queueing included")
    p.add_argument("--max-batch", type=int, default=8, help="sequences decoded together per model")
    p.add_argument("--max-queue", type=int, default=256, help="waiting requests beyond this get 429")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_can_listen(host: str, port: int) -> None:
    """Fail early and clearly (before loading models) when the address is taken or invalid."""
    import socket

    from pocketgpt.errors import UserError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            s.bind(addr)
    except OSError as e:
        raise UserError(f"--host/--port: cannot listen on {host}:{port} ({e.strerror or e}); is another server "
                        "running there, or is the address wrong?") from None


def run(args) -> int:
    from pocketgpt.errors import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port: must be 1..65535, got {args.port}")
    _check_can_listen(args.host, args.port)
    import uvicorn

    from pocketgpt.serve.app import ServeConfig, create_app

    key = args.api_key if args.api_key is not None else os.environ.get("POCKETGPT_API_KEY") or None
    config = ServeConfig(host=args.host, port=args.port, api_key=key, max_tokens_cap=args.max_tokens_cap,
                         max_body_bytes=args.max_body_bytes, request_timeout_s=args.request_timeout,
                         max_batch=args.max_batch, max_queue=args.max_queue, device=args.device)
    app = create_app(args.checkpoint, config)
    if not _is_loopback(args.host) and key is None:
        print(f"pocketgpt serve: warning: listening on {args.host} without --api-key; anyone who can reach "
              "this port can use the model", file=sys.stderr)
    names = ", ".join(f"{m.id} ({'assistant' if m.assistant else 'base'})" for m in app.state.models.values())
    print(f"pocketgpt serve: {names} at http://{args.host}:{args.port}/  (API: /v1, schema: /openapi.json)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0
