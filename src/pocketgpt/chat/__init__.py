"""Post-training: the chat format, conversation data, SFT batches and the chat REPL.

- :mod:`.format`: ``render``, ``render_for_completion``, ``validate`` (format ``pocketgpt-chat-v1``)
- :mod:`.conversation`: ``Conversation``, the record every reader below makes
- :mod:`.data`: conversation JSON Lines read/write, and loading any supported file
- :mod:`.oasst`: the OpenAssistant (oasst1/oasst2) message-tree importer
- :mod:`.mix`: the default SFT mix (``pocketgpt data default-chat``)
- :mod:`.names`: whole-word, case- and accent-folded name matching (the held-out rule)
- :mod:`.synth`: SFT data from a teacher model over the OpenAI chat API (``pocketgpt data synth``)
- :mod:`.batches`: the SFT batch source (padded or packed); the masked-loss eval that runs
  on it is training's, :func:`pocketgpt.train.sft.make_sft_eval`
- :mod:`.repl`: the chat session and REPL behind ``pocketgpt chat``
"""

from pocketgpt.chat.format import FORMAT_NAME, render, render_for_completion, render_text, validate

__all__ = ["FORMAT_NAME", "render", "render_for_completion", "render_text", "validate"]
