"""pocketgpt as a model for EleutherAI's ``lm-eval`` harness (the optional ``[eval]`` extra).

Importing this module registers the model name ``pocketgpt`` with lm-eval, so::

    lm_eval --model pocketgpt --model_args checkpoint=runs/speedrun/sft --tasks hellaswag

runs any lm-eval task against a checkpoint whose data is at hand (lm-eval's own
``--include_path`` adds local task YAMLs). From Python, :func:`run_lm_eval` does the same.

The three request types map onto :mod:`pocketgpt.eval.lm`:

- ``loglikelihood(context, continuation)`` -> ``(log p, is_greedy)``;
- ``loglikelihood_rolling(text)`` -> the log-probability of the whole text, every token
  predicted after ``<|endoftext|>`` in non-overlapping context windows;
- ``generate_until(context, {"until": [...], "max_gen_toks": N})`` -> greedy text cut
  at the first stop string.

Contexts are plain text: specials are never allowed, so a task cannot inject control
tokens. Probabilities are over the tokenizer's ids (a padded vocabulary's extra output
rows get none), exactly as ``pocketgpt serve`` reports them to lm-eval's own
``local-completions`` client, so both give the same numbers (docs/serve.md). The
context/continuation split is lm-eval's own (see ``PocketGPTLM._encode_pair``).
"""

from __future__ import annotations

from pocketgpt.errors import UserError

try:
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model
except ImportError:  # the optional extra is absent: importing still works, using it explains
    LM = object

    def register_model(*_names):
        return lambda cls: cls

    HAVE_LM_EVAL = False
else:
    HAVE_LM_EVAL = True


def _require() -> None:
    if not HAVE_LM_EVAL:
        raise UserError("lm-eval is not installed; it is the optional extra: pip install 'pocketgpt[eval]'")


@register_model("pocketgpt")
class PocketGPTLM(LM):
    """An lm-eval ``LM`` over a pocketgpt checkpoint (or an already loaded model + tokenizer)."""

    def __init__(self, checkpoint: str | None = None, model=None, tokenizer=None, batch_size: int | str = 16,
                 device: str = "cpu", max_gen_toks: int = 64, **_ignored):
        _require()
        super().__init__()
        if model is None:
            if checkpoint is None:
                raise UserError("pocketgpt lm-eval model: pass model_args checkpoint=RUN_DIR")
            from pocketgpt.train.checkpoint import load_checkpoint

            model, tokenizer, _ = load_checkpoint(checkpoint)
        if tokenizer is None:
            raise UserError("pocketgpt lm-eval model: the checkpoint has no tokenizer")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.batch = int(batch_size) if str(batch_size).isdigit() else 16
        self.max_gen_toks = int(max_gen_toks)

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context ids (after ``<|endoftext|>``, the start of a document) and continuation ids.

        As lm-eval's own API clients do: trailing whitespace of the context moves to the
        continuation, and the continuation is what encoding the whole text adds after the
        context's tokens. (For ``"Answer:"`` + ``" Paris"`` both ways give the same ids.)
        """
        n = len(context) - len(context.rstrip())
        if n:
            context, continuation = context[:-n], context[-n:] + continuation
        ctx = self.tokenizer.encode(context)
        whole = self.tokenizer.encode(context + continuation)
        return [self.tokenizer.eot_id] + ctx, whole[len(ctx):]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        from pocketgpt.eval.lm import loglikelihood

        pairs = [self._encode_pair(*r.args[:2]) for r in requests]
        return loglikelihood(self.model, pairs, batch_size=self.batch, vocab_size=self.tokenizer.vocab_size)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        from pocketgpt.eval.lm import text_nats

        ids = [[self.tokenizer.eot_id] + self.tokenizer.encode(r.args[0]) for r in requests]
        return [-n for n in text_nats(self.model, ids, batch_size=self.batch, vocab_size=self.tokenizer.vocab_size)]

    def generate_until(self, requests, disable_tqdm: bool = False):
        from pocketgpt.eval.lm import greedy

        out = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] if len(r.args) > 1 else {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            ids = [self.tokenizer.eot_id] + self.tokenizer.encode(context)
            new, _ = greedy(self.model, [ids], int(kwargs.get("max_gen_toks", self.max_gen_toks)),
                            [self.tokenizer.eot_id])[0]
            text = self.tokenizer.decode(new)
            for s in until:
                if s and s in text:
                    text = text.split(s)[0]
            out.append(text)
        return out


def run_lm_eval(checkpoint_or_model, tasks: list[str], *, tokenizer=None, include_path: str | None = None,
                limit: int | None = None, num_fewshot: int | None = None) -> dict:
    """Run lm-eval tasks; returns lm-eval's ``results`` dict (metrics per task)."""
    _require()
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if isinstance(checkpoint_or_model, (str, bytes)) or hasattr(checkpoint_or_model, "__fspath__"):
        lm = PocketGPTLM(checkpoint=str(checkpoint_or_model))
    else:
        lm = PocketGPTLM(model=checkpoint_or_model, tokenizer=tokenizer)
    manager = TaskManager(include_path=include_path) if include_path else TaskManager()
    res = simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit, num_fewshot=num_fewshot)
    return res["results"]
