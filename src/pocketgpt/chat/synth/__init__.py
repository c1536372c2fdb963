"""SFT data from a teacher model over the OpenAI chat API: ``pocketgpt data synth``.

A bigger model served by vLLM, llama.cpp's server, Ollama or ``pocketgpt serve`` answers
prompts (or questions it writes itself from topics), and each finished conversation is
appended to ``OUT/chat.jsonl`` in the chat JSON Lines format, ready for
``pocketgpt sft --data OUT``. A run can be stopped at any moment (Ctrl-C, SIGKILL) and
rerun with the same command: finished tasks are skipped by id, nothing is duplicated.

- :mod:`.teacher`: the OpenAI client, retries with backoff, the request/token budget
- :mod:`.tasks`: reading prompts, topics and ``--exclude`` names; task ids; refusals
- :mod:`.store`: the append-only ledgers and the manifest in ``OUT``
- :mod:`.run`: :class:`SynthConfig` and :func:`run_synth`, the bounded worker pool

>>> SynthConfig(base_url="http://127.0.0.1:8000/v1", model="m", out="o", prompts="p.txt").key()["turns"]
1
"""

from pocketgpt.chat.synth.run import SynthConfig, run_synth

__all__ = ["SynthConfig", "run_synth"]
