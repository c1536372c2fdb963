"""``pocketgpt export`` and ``pocketgpt import``: to and from Hugging Face directories.

    pocketgpt export --checkpoint runs/chat --out hf/chat
    pocketgpt import --hf ~/models/gpt2 --out runs/gpt2
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a checkpoint as a Hugging Face model directory",
        description="Write a checkpoint as a directory that transformers loads with no custom code "
                    "(GPT2LMHeadModel, Qwen3ForCausalLM or LlamaForCausalLM), with tokenizer.json, "
                    "tokenizer_config.json (special tokens, chat template) and generation_config.json.",
    )
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run directory (newest valid checkpoint) "
                   "or one checkpoint directory")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--format", default="hf", choices=("hf",), help="output format (only hf)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                   help="weight dtype in model.safetensors (default float32)")
    p.add_argument("--force", action="store_true", help="replace DIR if it exists")
    p.set_defaults(func=run_export)

    q = subparsers.add_parser(
        "import", help="turn a Hugging Face GPT-2-family directory into a pocketgpt checkpoint",
        description="Turn a Hugging Face model directory (GPT-2 family, or one made by `pocketgpt export`) into "
                    "RUN_DIR/checkpoints/step_XXXXXX/, usable by sample, eval, sft, chat and serve.",
    )
    q.add_argument("--hf", required=True, metavar="DIR", help="the Hugging Face model directory")
    q.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    q.add_argument("--no-chat-tokens", action="store_true",
                   help="do not add the chat special tokens the tokenizer lacks (then sft/chat cannot use it)")
    q.add_argument("--force", action="store_true", help="replace the checkpoints RUN_DIR already holds")
    q.set_defaults(func=run_import)


def run_export(args) -> int:
    from pocketgpt.interop import export_hf

    s = export_hf(args.checkpoint, args.out, dtype=args.dtype, overwrite=args.force)
    print(f"exported {s['checkpoint']} (step {s['step']}, {s['params']:,} params) to {s['out']} as "
          f"{s['architecture']} ({s['dtype']})")
    if not s["chat_template"]:
        print("note: the tokenizer lacks the chat special tokens, so no chat_template was written")
    return 0


def run_import(args) -> int:
    from pocketgpt.interop import import_hf

    s = import_hf(args.hf, args.out, chat_tokens=not args.no_chat_tokens, overwrite=args.force)
    print(f"imported {args.hf} ({s['model_type']}: {s['weights']}, {s['tokenizer']}) as arch={s['arch']}, "
          f"{s['params']:,} params, vocab {s['vocab_size']} -> {s['path']}")
    if s["added_tokens"]:
        print(f"added special tokens {' '.join(s['added_tokens'])} (rows start at the mean embedding; "
              "finetune with `pocketgpt sft` before chatting)")
    return 0
