"""pocketgpt: raw text to a chat assistant, end to end."""
__version__ = "0.1.0"
