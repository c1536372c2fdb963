"""pocketgpt: raw text to a chat assistant, end to end."""
__version__ = "0.1.0"


def load_checkpoint(path):
    """``(model, tokenizer, info)`` from a run directory (newest valid checkpoint) or one checkpoint.

    Imported lazily so ``import pocketgpt`` stays free of torch.
    """
    from pocketgpt.train.checkpoint import load_checkpoint as _load

    return _load(path)
