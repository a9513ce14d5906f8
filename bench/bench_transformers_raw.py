"""Raw throughput of TransformersBackend (no cache, no Dagster), to size batch_size for a machine.

Run: .venv/bin/python bench/bench_transformers_raw.py [--model embedded:smollm2-135m-instruct]
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


def generation_rate(backend: TransformersBackend, prompts: list[str], max_new_tokens: int) -> tuple[float, float]:
    """Generated tokens per second and seconds per call, greedy, over all prompts."""
    params = SamplingParams(max_new_tokens=max_new_tokens)
    requests = [GenerationRequest(messages=(("user", p),), params=params) for p in prompts]
    start = time.perf_counter()
    results = backend.generate(requests)
    wall = time.perf_counter() - start
    return sum(r.tokens_out for r in results) / wall, wall


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
    args = parser.parse_args()

    import torch

    prompts = [f"Tell me one interesting fact about {t}." for t in TOPICS]
    backend = TransformersBackend(args.model)
    backend.load()
    print(f"model {backend.model_id}  torch threads {torch.get_num_threads()}  cuda {torch.cuda.is_available()}")
    backend.batch_size = 8
    generation_rate(backend, prompts[:8], 8)  # warm-up: first calls pay allocator and kernel setup
    for batch in (1, 8, 32):
        backend.batch_size = batch
        subset = prompts[:args.batch1_prompts] if batch == 1 else prompts
        rate, wall = generation_rate(backend, subset, args.max_new_tokens)
        print(f"generate  batch {batch:>2}  {len(subset):>2} prompts  {wall:6.1f} s  {rate:7.1f} tokens/s")
    backend.batch_size = 16
    rate, tokens_in = scoring_rate(backend, args.score_rows)
    print(f"score     batch 16  {args.score_rows} rows x 2 choices  prompt {tokens_in} tokens  {rate:7.1f} rows/s")


if __name__ == "__main__":
    main()
