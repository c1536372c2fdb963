"""Run ``pocketgpt ARGV...`` and SIGKILL it at one chosen point (a test helper, run as a script).

    python fault_driver.py KIND:N -- pretrain --data ... --out run/

KIND:N picks where the process kills itself, with a real ``SIGKILL`` (no handler,
no cleanup, no flush), so the result is what a preempted or OOM-killed job leaves:

- ``step:N``  inside optimizer step N: after backward, before the weights change
- ``ckpt:N``  while the checkpoint of step N is being written (files on disk, no manifest)
- ``eval:N``  during the eval at step N: the numbers are computed, not yet recorded
- ``log:N``   half-way through writing step N's line of metrics.jsonl
- ``shard:N`` half-way through writing data shard number N (``data tokenize``)
- ``fsize:N`` no kill: after checkpoint N, files may not grow past 20 kB (real EFBIG writes)
- ``rofs:N``  no kill: after checkpoint N, creating the checkpoint directory fails with EROFS
- ``none``    no kill (the uninterrupted reference)

Patches go on the library's own call sites, so the kill lands exactly where named;
the test also kills at random wall-clock times from outside, where nothing is patched.
"""

from __future__ import annotations

import os
import signal
import sys


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(kind: str, n: int) -> None:
    if kind in ("step", "ckpt", "eval", "log"):
        import torch

        from pocketgpt.train import checkpoint as ckpt
        from pocketgpt.train import trainer as tr

        current = {}
        init = tr.Trainer.__init__

        def remember(self, *a, **kw):
            init(self, *a, **kw)
            current["t"] = self

        tr.Trainer.__init__ = remember
        if kind == "step":
            clip = torch.nn.utils.clip_grad_norm_

            def clip_then_die(*a, **kw):
                out = clip(*a, **kw)
                if current["t"].step + 1 == n:
                    die()
                return out

            torch.nn.utils.clip_grad_norm_ = clip_then_die
        elif kind == "ckpt":
            fsync = ckpt._fsync

            def fsync_then_die(path):
                fsync(path)
                if path.parent.name.startswith(f".step_{n:06d}.") or path.parent.parent.name.startswith(
                        f".step_{n:06d}."):
                    die()

            ckpt._fsync = fsync_then_die
        elif kind == "eval":
            evaluate = tr.Trainer.evaluate

            def evaluate_then_die(self):
                if self.step == n and self.eval_fn is not None:
                    self.eval_fn(self.model)
                    die()
                return evaluate(self)

            tr.Trainer.evaluate = evaluate_then_die
        else:
            log = tr.Trainer._log

            def half_a_line(self, row):
                if row.get("step") == n and "loss" in row:
                    import json

                    line = json.dumps(row) + "\n"
                    with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                        f.write(line[: len(line) // 2])
                    die()
                return log(self, row)

            tr.Trainer._log = half_a_line
    elif kind in ("fsize", "rofs"):
        import errno
        import resource
        import tempfile

        from pocketgpt.train import checkpoint as ckpt
        from pocketgpt.train import trainer as tr

        save = ckpt.save_checkpoint

        def save_then_break_the_disk(run_dir, step, **kw):
            path = save(run_dir, step, **kw)
            if step == n and kind == "fsize":
                # the kernel now refuses to grow any file past 20 kB (EFBIG), like a full disk
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
            elif step == n:
                def read_only(*a, **k):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(run_dir))

                tempfile.mkdtemp = read_only
            return path

        tr.ckpt.save_checkpoint = save_then_break_the_disk
    elif kind == "shard":
        import numpy as np

        save = np.save
        count = {"n": 0}

        def save_half_then_die(f, arr, *a, **kw):
            count["n"] += 1
            if count["n"] == n:
                import io

                buf = io.BytesIO()
                save(buf, arr, *a, **kw)
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                die()
            return save(f, arr, *a, **kw)

        np.save = save_half_then_die
    elif kind != "none":
        raise SystemExit(f"fault_driver: unknown kill point {kind!r}")


def run(spec: str, argv: list[str]) -> int:
    kind, _, n = spec.partition(":")
    install(kind, int(n or 0))
    from pocketgpt.cli import main as cli_main

    return cli_main(argv)


def serve() -> None:
    """A zygote: import torch and pocketgpt once, then fork one child per request.

    Reads ``{"spec", "argv", "log"}`` lines on stdin; for each, writes ``{"pid": ...}``
    when the child starts and ``{"code": ...}`` (negative: killed by that signal) when it
    ends. Children get a clean copy of a process that has run no torch op (no thread pool
    to inherit), so each is an independent ``pocketgpt`` run without the ~5 s import.
    """
    import json
    import traceback

    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (torch.optim imports it lazily: ~5 s per run otherwise)
    import pocketgpt.cli  # noqa: F401
    import pocketgpt.data  # noqa: F401
    import pocketgpt.train.pretrain  # noqa: F401
    import pocketgpt.train.sft  # noqa: F401

    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 1
            try:
                code = run(req["spec"], req["argv"])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


def main() -> int:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return 0
    spec, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: fault_driver.py KIND:N -- ARGV...  |  fault_driver.py --serve"
    return run(spec, argv)


if __name__ == "__main__":
    sys.exit(main())
