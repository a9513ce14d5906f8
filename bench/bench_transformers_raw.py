"""Raw throughput of TransformersBackend (no cache, no Dagster), to size batch_size for a machine.

Run: .venv/bin/python bench/bench_transformers_raw.py [--model embedded:smollm2-135m-instruct]
On a GPU: ... --batches 1,8,32,128,256 --prompts 256 --score-batch 128 --score-rows 1024
"""

from __future__ import annotations

import argparse
import time

from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.transformers_backend import TransformersBackend

TOPICS = ["the moon", "bread", "rivers", "chess", "volcanoes", "bees", "trains", "coffee", "glaciers",
          "owls", "copper", "tennis", "deserts", "violins", "tea", "comets", "whales", "bridges", "salt",
          "maple trees", "lighthouses", "penguins", "clocks", "sand", "rain", "castles", "honey",
          "kites", "mushrooms", "storms", "paper", "the ocean"]
REVIEW = ("The delivery was late by two days and the box was dented, but the product itself works fine. "
          "Setup took about ten minutes, the instructions were clear enough, and the battery lasts a full day. "
          "I would have liked a carrying case for the price, and the app asks for too many permissions. ")


def generation_rate(backend: TransformersBackend, prompts: list[str], max_new_tokens: int,
                    top_logprobs: int = 0) -> tuple[float, float]:
    """Generated tokens per second and seconds per call, greedy, over all prompts."""
    params = SamplingParams(max_new_tokens=max_new_tokens, top_logprobs=top_logprobs)
    requests = [GenerationRequest(messages=(("user", p),), params=params) for p in prompts]
    start = time.perf_counter()
    results = backend.generate(requests)
    wall = time.perf_counter() - start
    return sum(r.tokens_out for r in results) / wall, wall


def topic_prompts(n: int) -> list[str]:
    """n distinct prompts of similar length: the topics, then the topics with a word budget."""
    return [f"Tell me one interesting fact about {TOPICS[i % len(TOPICS)]}."
            + (f" Use at most {10 + i // len(TOPICS)} words." if i >= len(TOPICS) else "") for i in range(n)]


def scoring_rate(backend: TransformersBackend, rows: int) -> tuple[float, int]:
    """Rows per second for two-choice scoring of ~100-token prompts."""
    requests = [GenerationRequest(messages=(("user", f"Review {i}: {REVIEW}Is this review positive? Answer yes or no."),),
                                  choices=("yes", "no")) for i in range(rows)]
    start = time.perf_counter()
    results = backend.generate(requests)
    wall = time.perf_counter() - start
    return rows / wall, results[0].tokens_in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch1-prompts", type=int, default=8, help="batch 1 is slow; its rate needs few prompts")
    parser.add_argument("--score-rows", type=int, default=64)
    parser.add_argument("--score-batch", type=int, default=16)
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes to time")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per batched measurement")
    parser.add_argument("--top-logprobs", type=int, default=0, help="also time generation keeping top-k log-probs")
    args = parser.parse_args()

    import torch

    prompts = topic_prompts(args.prompts)
    backend = TransformersBackend(args.model)
    backend.load()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    print(f"model {backend.model_id}  device {device}  dtype {backend._model.dtype}")
    backend.batch_size = 8
    generation_rate(backend, prompts[:8], 8)  # warm-up: first calls pay allocator and kernel setup
    rates = {}
    for batch in (int(b) for b in args.batches.split(",")):
        backend.batch_size = batch
        subset = prompts[:args.batch1_prompts] if batch == 1 else prompts
        rate, wall = generation_rate(backend, subset, args.max_new_tokens)
        rates[batch] = rate
        print(f"generate  batch {batch:>3}  {len(subset):>3} prompts  {wall:6.1f} s  {rate:8.1f} tokens/s")
    if 1 in rates:
        best = max(rates, key=rates.__getitem__)
        print(f"batched / batch-1 tokens/s: {rates[best] / rates[1]:.1f}x (batch {best})")
    if args.top_logprobs:
        rate, wall = generation_rate(backend, prompts, args.max_new_tokens, top_logprobs=args.top_logprobs)
        print(f"generate  batch {backend.batch_size:>3}  top_logprobs={args.top_logprobs}  {wall:6.1f} s  {rate:8.1f} tokens/s"
              f"  ({rate / rates[backend.batch_size]:.2f}x of without)")
    backend.batch_size = args.score_batch
    rate, tokens_in = scoring_rate(backend, args.score_rows)
    print(f"score     batch {args.score_batch:>3}  {args.score_rows} rows x 2 choices  prompt {tokens_in} tokens  {rate:7.1f} rows/s")


if __name__ == "__main__":
    main()
