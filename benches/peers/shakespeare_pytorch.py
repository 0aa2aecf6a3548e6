#!/usr/bin/env python3
"""PyTorch beside tapegrad on the Shakespeare model: a GEMM-bound workload.

The default `shakespeare` model (embedding 256, one LSTM of 512, a linear
layer to one logit per character), batches of 64 windows of 100
characters, cross-entropy on every character, Adam 2e-3, the gradient norm
clipped to 5. Each step multiplies `[64 x 512] @ [512 x 2048]` a hundred
times forward and twice as much backward: the products where PyTorch's
oneDNN is strongest.

tapegrad's time per batch comes from `shakespeare --epochs 1 --validation 0`
on the first `--chars` characters of the text (its printed tokens/s, over
the training pass only); PyTorch trains the same model on random windows of
the same text for as many batches, timed the same way. The contenders
alternate in rounds, so a slow moment of a noisy machine hits both alike;
both use `--threads` threads (`torch.set_num_threads`,
`TAPEGRAD_NUM_THREADS`), and PyTorch flushes denormals to zero as tapegrad
does.

Run (PyTorch installed with pip in a virtual environment outside the repository):

    cargo build --release -p train --example shakespeare
    python benches/peers/shakespeare_pytorch.py --data ../shared/data/tinyshakespeare.txt --rounds 2
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH, WINDOW, EMBED, HIDDEN = 64, 100, 256, 512


class CharModel(nn.Module):
    """The PyTorch twin of tapegrad's `CharRnn` with the program's defaults."""

    def __init__(self, vocab):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, vocab)

    def forward(self, ids):
        return self.fc(self.lstm(self.embedding(ids))[0])


def pytorch_batches(text, batches, seed):
    """Seconds per batch of `batches` training steps on random windows of `text`."""
    torch.manual_seed(seed)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text])
    model = CharModel(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(batches):
        starts = torch.randint(0, len(data) - WINDOW - 1, (BATCH,))
        windows = torch.stack([data[s:s + WINDOW + 1] for s in starts])
        inputs, targets = windows[:, :-1], windows[:, 1:]
        optimizer.zero_grad()
        logits = model(inputs)
        loss = loss_fn(logits.reshape(-1, len(chars)), targets.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return (time.perf_counter() - start) / batches


def tapegrad_batches(binary, text_path, threads):
    """Seconds per batch of `shakespeare --epochs 1`'s training pass, and its batches."""
    with tempfile.TemporaryDirectory() as out:
        args = [binary, "--data", text_path, "--epochs", "1", "--validation", "0", "--length", "1", "--out", out]
        env = dict(os.environ, TAPEGRAD_NUM_THREADS=str(threads))
        result = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"^epoch 1/1: .*\| ([0-9.]+) s, (\d+) tokens/s", result.stdout, re.MULTILINE)
    if not match:
        sys.exit(f"could not read tapegrad's epoch from:\n{result.stdout}\n{result.stderr}")
    seconds, tokens_per_second = float(match.group(1)), int(match.group(2))
    batches = round(seconds * tokens_per_second / (BATCH * WINDOW))
    return BATCH * WINDOW / tokens_per_second, batches


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="tinyshakespeare.txt")
    parser.add_argument("--tapegrad", default=os.path.join(REPO, "target/release/examples/shakespeare"))
    parser.add_argument("--chars", type=int, default=400_000, help="characters of the text to train on")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with open(args.data, encoding="utf-8") as f:
        text = f.read()[: args.chars]
    print(f"LSTM {HIDDEN}, embedding {EMBED}, batch {BATCH} x {WINDOW} characters, {args.threads} threads, "
          f"torch {torch.__version__}, the first {len(text)} characters")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        text_path = os.path.join(work, "tinyshakespeare.txt")
        with open(text_path, "w", encoding="utf-8") as f:
            f.write(text)
        for round_ in range(args.rounds):
            ours, batches = tapegrad_batches(args.tapegrad, text_path, args.threads)
            theirs = pytorch_batches(text, batches, seed=round_)
            rows.append((ours, theirs))
            print(f"round {round_ + 1}: {batches} batches: tapegrad {1e3 * ours:.0f} ms/batch | "
                  f"PyTorch {1e3 * theirs:.0f} ms/batch | ratio {ours / theirs:.2f}x", flush=True)
    best_ours, best_theirs = min(r[0] for r in rows), min(r[1] for r in rows)
    print(f"best: tapegrad {1e3 * best_ours:.0f} ms/batch, PyTorch {1e3 * best_theirs:.0f} ms/batch, "
          f"tapegrad / PyTorch = {best_ours / best_theirs:.2f}x")


if __name__ == "__main__":
    main()
