"""Serving: an OpenAI-compatible HTTP API and a web UI for pocketgpt checkpoints.

    pocketgpt serve --checkpoint runs/sft --checkpoint runs/base   # then open http://127.0.0.1:8000

- :mod:`.app`: the FastAPI app factory (:func:`create_app`, :class:`ServeConfig`)
- :mod:`.schemas`: request bodies (pydantic)
- :mod:`.openai_format`: prompts, OpenAI-shaped responses and stream chunks
- :mod:`.engine`: the worker thread that batches generation off the event loop
- :mod:`.text`: token bytes to UTF-8-safe text deltas, stop strings
- :mod:`.models`: loading checkpoints for serving
- ``static/``: the web UI (no CDN; everything ships in the package)

Importing this package does not import FastAPI; :func:`create_app` does.
"""


def create_app(checkpoints, config=None):
    from pocketgpt.serve.app import create_app as _create

    return _create(checkpoints, config)


__all__ = ["create_app"]
