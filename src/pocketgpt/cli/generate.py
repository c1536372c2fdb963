"""``pocketgpt sample``: let a base model continue a prompt, streamed to the terminal.

    pocketgpt sample --checkpoint runs/tiny --prompt "The capital of France is"
    echo "Once upon a time" | pocketgpt sample --checkpoint runs/tiny --num-samples 3 --seed 1
    pocketgpt sample --checkpoint runs/tiny --prompt "Italy" \\
        --few-shot capitals.jsonl --template "Q: What is the capital of {country}?\\nA: {capital}"
    pocketgpt sample --checkpoint runs/tiny --prompt "The" --max-new-tokens 8 --show-probs
"""

from __future__ import annotations

import argparse
import sys

from pocketgpt.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="sample text from a checkpoint (base model continuation, few-shot prompts)",
        description="Continue a prompt with a trained model, streaming the text as it is generated. "
                    "The prompt comes from --prompt, --prompt-file or stdin (one trailing newline is dropped).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR_OR_CKPT",
                   help="a run directory (its newest valid checkpoint) or one checkpoint directory")
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer directory (default: the checkpoint's own)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompt", help="prompt text")
    src.add_argument("--prompt-file", metavar="FILE", help="read the prompt from a UTF-8 file")
    p.add_argument("--few-shot", metavar="FILE",
                   help="examples to put before the prompt: .jsonl rendered with --template, or text blocks "
                        "separated by blank lines; generation then stops at the separator unless --stop is given")
    p.add_argument("--template", help="for .jsonl examples, e.g. 'Q: {question}\\nA: {answer}' (\\n and \\t are "
                                      "understood); the prompt fills the first field, the model writes the last")
    p.add_argument("--shots", type=int, help="use only the first N examples")
    p.add_argument("--separator", default="\\n\\n", help="text between examples (default: a blank line)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate per sample (default 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 is greedy (default 1.0)")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=float, help="nucleus sampling: the smallest set holding this much probability")
    p.add_argument("--min-p", type=float, help="drop tokens less likely than min-p x the top token's probability")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeats (default 1: off)")
    p.add_argument("--seed", type=int, help="make sampling reproducible; sample i uses seed+i")
    p.add_argument("--num-samples", type=int, default=1, help="how many samples (default 1)")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop when this text appears (repeatable; \\n is understood)")
    p.add_argument("--ignore-eot", action="store_true", help="do not stop at <|endoftext|>")
    p.add_argument("--truncate", action="store_true", help="drop the oldest prompt tokens if it does not fit")
    p.add_argument("--show-probs", action="store_true",
                   help="print each token with its probability and the top alternatives")
    p.add_argument("--top", type=int, default=5, help="alternatives shown by --show-probs (default 5)")
    p.add_argument("--echo", action="store_true", help="print the prompt before each sample")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    p.set_defaults(func=run)


def _unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")


def _read_prompt(args) -> str:
    if args.prompt is not None:
        return args.prompt
    if args.prompt_file:
        try:
            with open(args.prompt_file, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise UserError(f"{args.prompt_file}: no such prompt file") from None
        except UnicodeDecodeError as e:
            raise UserError(f"{args.prompt_file}: not UTF-8 text ({e})") from None
    elif sys.stdin is not None and not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        raise UserError("prompt: none given; use --prompt TEXT, --prompt-file FILE or pipe text on stdin")
    return text[:-1] if text.endswith("\n") else text


def _load(args):
    from pocketgpt.train.checkpoint import load_checkpoint

    model, tok, info = load_checkpoint(args.checkpoint, map_location=args.device)
    if args.tokenizer:
        from pocketgpt.tokenizer import Tokenizer

        tok = Tokenizer.load(args.tokenizer)
    if tok is None:
        raise UserError(f"{info['path']}: the checkpoint holds no tokenizer; pass --tokenizer DIR")
    if tok.vocab_size > model.config.vocab_size:
        raise UserError(f"--tokenizer: {tok.vocab_size} ids but the model has only {model.config.vocab_size}")
    return model, tok


def _piece(tok, token_id: int) -> str:
    """A token as a Python literal: text, or bytes when it holds part of a character."""
    raw = tok.decode_bytes([token_id])
    try:
        return repr(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(raw)


def _prob_line(tok, t) -> str:
    import math

    alts = "  ".join(f"{_piece(tok, i)} {math.exp(lp):.1%}" for i, lp in (t.top_logprobs or []))
    mark = "  [stop]" if t.is_stop_id else ""
    return f"{t.index:>5}  {_piece(tok, t.id):<18} {math.exp(t.logprob):>6.1%}{mark}   | {alts}"


def run(args) -> int:
    from pocketgpt.generate import Engine, SamplingParams, build_fewshot_prompt, load_examples

    if args.num_samples < 1:
        raise UserError(f"--num-samples: must be >= 1, got {args.num_samples}")
    if args.top < 0:
        raise UserError(f"--top: must be >= 0, got {args.top}")
    prompt = _read_prompt(args)
    stop = [_unescape(s) for s in args.stop]
    if args.few_shot:
        sep = _unescape(args.separator)
        prompt = build_fewshot_prompt(load_examples(args.few_shot), prompt, shots=args.shots, separator=sep,
                                      template=_unescape(args.template) if args.template else None)
        if not args.stop:
            stop = [sep]  # one answer, not a made-up next example
    if not prompt:
        raise UserError("prompt: is empty; expected some text to continue")
    base = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                top_p=args.top_p, min_p=args.min_p, repetition_penalty=args.repetition_penalty, stop=tuple(stop),
                logprobs=args.show_probs, top_logprobs=args.top if args.show_probs else 0,
                truncate="left" if args.truncate else None)
    SamplingParams(seed=args.seed, **base)  # bad values fail before the model loads
    model, tok = _load(args)
    engine = Engine(model, tok)
    stop_ids = () if args.ignore_eot or "<|endoftext|>" not in tok.special_tokens else (tok.eot_id,)
    ids = engine.encode(prompt)
    out = sys.stdout
    for i in range(args.num_samples):
        seed = None if args.seed is None else args.seed + i
        params = SamplingParams(seed=seed, stop_ids=stop_ids, **base)
        if args.num_samples > 1:
            seed_note = "" if seed is None else f" (seed {seed})"
            out.write(("\n" if i else "") + f"===== sample {i + 1}/{args.num_samples}{seed_note} =====\n")
        if args.echo and not args.show_probs:
            out.write(prompt)
        text, finish = [], None
        for t in engine.stream(ids, params):
            if args.show_probs:
                out.write(_prob_line(tok, t) + "\n")
                text.append(t.text)
            else:
                out.write(t.text)
            out.flush()
            finish = t.finish_reason
        if args.show_probs:
            out.write("\n" + (prompt if args.echo else "") + "".join(text))
        out.write("\n")
        out.flush()
        print(f"[finished: {finish}]", file=sys.stderr)
    return 0
