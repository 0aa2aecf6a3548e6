#!/usr/bin/env python3
"""PyTorch beside tapegrad on the same CPU, the same data and the same model.

Two measurements, each alternating the contenders in rounds so that a slow
moment of this noisy machine hits both alike:

  epoch  one training epoch of the IMDB sentiment model (the default
         `imdb_lstm` run: 20,000 reviews, embedding and hidden size 128,
         batches of 64, the last 200 tokens, dropout 0.2, Adam 1e-3, gradient
         norm clipped to 5, the classifier reading the final state),
         tapegrad's `imdb_lstm --epochs 1 --pool last` against the same loop
         in PyTorch. Prints seconds per epoch, milliseconds per
         review, and tapegrad / PyTorch.
  step   one forward + backward pass of the recurrent layer alone on a
         [64 x 200] batch with E = H = 128 (`benches/recurrent.rs`): PyTorch's
         fused `nn.LSTM`/`nn.GRU` (oneDNN) and the same cell composed of
         PyTorch ops in a Python loop, in tokens/s.

Both read exactly the token ids tapegrad trains on, exported by

    cargo run --release -p train --example load_imdb -- --data ../shared/data/aclImdb_labeled.tar.gz \\
        --export /tmp/imdb_encoded.safetensors

Run (PyTorch installed with pip in a virtual environment outside the repository):

    cargo build --release -p train --example imdb_lstm
    python benches/peers/imdb_pytorch.py epoch --encoded /tmp/imdb_encoded.safetensors \\
        --data ../shared/data/aclImdb_labeled.tar.gz --cell lstm --rounds 2
    python benches/peers/imdb_pytorch.py step --rounds 3

Both contenders use the same number of threads (`--threads`, default 2:
`torch.set_num_threads` and `TAPEGRAD_NUM_THREADS`). PyTorch runs with
`torch.set_flush_denormal(True)`: on this project's machine the gradients
that fade along the 200 steps of a padded review become denormal numbers,
and PyTorch's oneDNN LSTM backward then runs ~7x slower (620 ms instead of
85 ms per batch, measured); flushing them to zero is PyTorch at its best.
`--keep-denormals` measures the tutorial code exactly as written. PyTorch pads every batch
to 200 tokens, as the tutorials do; tapegrad's loader batches reviews of
similar length together (bucketing), so it runs fewer padded steps: that is
part of what is compared, a design choice of the two programs.
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
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH, TIME, EMBED, HIDDEN = 64, 200, 128, 128


class Sentiment(nn.Module):
    """The PyTorch twin of `nn::SentimentModel` with the `imdb_lstm` defaults."""

    def __init__(self, vocab, cell, bidirectional):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.embedding = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.rnn = layer(EMBED, HIDDEN, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(HIDDEN * (2 if bidirectional else 1), 1)
        self.bidirectional = bidirectional

    def forward(self, ids):
        _, state = self.rnn(self.embedding(ids))
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat((h_n[-2], h_n[-1]), dim=1) if self.bidirectional else h_n[-1]
        return self.fc(self.dropout(final)).squeeze(1)


def pytorch_epoch(data, cell, bidirectional, seed):
    """Seconds for one training epoch over `train.*` in batches of 64."""
    torch.manual_seed(seed)
    ids, labels = data["train.ids"].long(), data["train.labels"]
    vocab = int(ids.max()) + 1
    model = Sentiment(max(vocab, 20002), cell, bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))
    model.train()
    start = time.perf_counter()
    for first in range(0, len(ids), BATCH):
        batch = order[first:first + BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(ids[batch]), labels[batch])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return time.perf_counter() - start, len(ids)


def tapegrad_epoch(binary, data_path, cell, bidirectional, threads):
    """Seconds of the training epoch that `imdb_lstm --epochs 1` reports."""
    with tempfile.TemporaryDirectory() as out:
        args = [binary, "--data", data_path, "--epochs", "1", "--cell", cell, "--pool", "last", "--out", out]
        if bidirectional:
            args.append("--bidirectional")
        env = dict(os.environ, TAPEGRAD_NUM_THREADS=str(threads))
        result = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"^epoch 1/1: .*\| ([0-9.]+) s", result.stdout, re.MULTILINE)
    reviews = re.search(r"data: (\d+) train", result.stdout)
    if not match or not reviews:
        sys.exit(f"could not read tapegrad's epoch time from:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1)), int(reviews.group(1))


def epoch_command(args):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_denormals)
    data = load_file(args.encoded)
    name = ("Bi" if args.bidirectional else "") + args.cell.upper()
    print(f"{name} {HIDDEN}, one epoch, {args.threads} threads, torch {torch.__version__}, "
          f"denormals {'kept' if args.keep_denormals else 'flushed to zero'}")
    rows = []
    for round_ in range(args.rounds):
        ours, ours_reviews = tapegrad_epoch(args.tapegrad, args.data, args.cell, args.bidirectional, args.threads)
        theirs, their_reviews = pytorch_epoch(data, args.cell, args.bidirectional, seed=round_)
        ours_ms, their_ms = 1e3 * ours / ours_reviews, 1e3 * theirs / their_reviews
        rows.append((ours_ms, their_ms))
        print(f"round {round_ + 1}: tapegrad {ours:.1f} s / {ours_reviews} reviews = {ours_ms:.3f} ms/review | "
              f"PyTorch {theirs:.1f} s / {their_reviews} reviews = {their_ms:.3f} ms/review | "
              f"ratio {ours_ms / their_ms:.2f}x", flush=True)
    best_ours, best_theirs = min(r[0] for r in rows), min(r[1] for r in rows)
    print(f"best: tapegrad {best_ours:.3f} ms/review, PyTorch {best_theirs:.3f} ms/review, "
          f"tapegrad / PyTorch = {best_ours / best_theirs:.2f}x")


class ComposedLstm(nn.Module):
    """An LSTM layer written with PyTorch ops, one time step per Python iteration,
    the input projection hoisted out of the loop: the composed counterpart of
    `nn.LSTM`, as tapegrad's cell is composed of autograd ops."""

    def __init__(self):
        super().__init__()
        self.w_ih = nn.Parameter(torch.randn(4 * HIDDEN, EMBED) * 0.05)
        self.w_hh = nn.Parameter(torch.randn(4 * HIDDEN, HIDDEN) * 0.05)
        self.b = nn.Parameter(torch.zeros(4 * HIDDEN))

    def forward(self, x):
        projected = torch.addmm(self.b, x.reshape(-1, EMBED), self.w_ih.t()).reshape(x.shape[0], x.shape[1], -1)
        h = x.new_zeros(x.shape[0], HIDDEN)
        c = x.new_zeros(x.shape[0], HIDDEN)
        outputs = []
        for t in range(x.shape[1]):
            gates = projected[:, t] + h @ self.w_hh.t()
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, 1)


def step_command(args):
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    # The input needs its gradient, as an embedding's output does in the model.
    x = torch.randn(BATCH, TIME, EMBED, requires_grad=True)
    lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
    contenders = [
        ("PyTorch nn.LSTM (fused)", lstm, args.threads),
        ("PyTorch nn.LSTM (fused), 1 thread", lstm, 1),
        ("PyTorch nn.GRU (fused)", nn.GRU(EMBED, HIDDEN, batch_first=True), args.threads),
        ("PyTorch nn.LSTM bidirectional (fused)",
         nn.LSTM(EMBED, HIDDEN, batch_first=True, bidirectional=True), args.threads),
        ("PyTorch LSTM composed of ops", ComposedLstm(), args.threads),
    ]

    def once(module, threads):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        out = module(x)
        out = out[0] if isinstance(out, tuple) else out
        out.mean().backward()
        return time.perf_counter() - start

    best = [float("inf")] * len(contenders)
    for _, module, threads in contenders:
        once(module, threads)  # warm up
    for _ in range(args.rounds):
        for i, (_, module, threads) in enumerate(contenders):
            best[i] = min(best[i], once(module, threads))
    print(f"[{BATCH} x {TIME}] E = H = {HIDDEN}, f32, fwd+bwd, {args.threads} threads, "
          f"best of {args.rounds} in turns, torch {torch.__version__}")
    print(f"| {'layer':<40} | {'fwd+bwd tok/s':>14} | {'ms / batch':>10} |")
    print(f"|{'-' * 42}|{'-' * 16}|{'-' * 12}|")
    for (name, _, _), seconds in zip(contenders, best):
        print(f"| {name:<40} | {BATCH * TIME / seconds:>14.0f} | {seconds * 1e3:>10.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    epoch = sub.add_parser("epoch", help="one IMDB training epoch, tapegrad and PyTorch in turns")
    epoch.add_argument("--encoded", required=True, help="the file `load_imdb --export` wrote")
    epoch.add_argument("--data", required=True, help="the reviews archive, for tapegrad")
    epoch.add_argument("--tapegrad", default=os.path.join(REPO, "target/release/examples/imdb_lstm"))
    epoch.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    epoch.add_argument("--bidirectional", action="store_true")
    epoch.add_argument("--rounds", type=int, default=2)
    epoch.add_argument("--threads", type=int, default=2)
    epoch.add_argument("--keep-denormals", action="store_true",
                       help="leave PyTorch's denormal handling as it is (slow here, see above)")
    step = sub.add_parser("step", help="the [64 x 200] forward + backward of the layer alone")
    step.add_argument("--rounds", type=int, default=5)
    step.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"epoch": epoch_command, "step": step_command}[args.command](args)


if __name__ == "__main__":
    main()
