"""The ``pocketgpt`` command: a thin argparse layer over the library.

Each pipeline stage has a module here with ``register(subparsers)``, which adds its
subcommand(s) and sets ``func`` to a handler taking the parsed ``args``. Handlers
call library functions and return an exit code. A :class:`~pocketgpt.errors.UserError`
anywhere below becomes a one-paragraph message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pocketgpt.errors import UserError

# One entry per pipeline stage, in pipeline order. Each names a module in this
# package that defines ``register(subparsers)``.
COMMAND_MODULES = (
    "data",
    "tokenizer",
    "train",
    "generate",
    "chat",
    "serve",
    "interop",
    "evaluate",
    "speedrun",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pocketgpt",
        description="Raw text to chat assistant: tokenizer, data, pretraining, SFT, chat, serving, eval.",
    )
    from pocketgpt import __version__

    parser.add_argument("--version", action="version", version=f"pocketgpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pocketgpt.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"pocketgpt {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"pocketgpt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
