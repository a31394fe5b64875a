"""Text fine-tuning throughput: weightspace's loop against a plain PyTorch loop and HF Trainer.

Three loops fine-tune the same model (all-MiniLM-L6-v2 + mean pooling + linear head, word
embeddings frozen as in the ``text`` preset) on the same data (a stratified Rotten Tomatoes
subset, fresh vs rotten, 500 snippets by default), batch 32, Adam lr 5e-5 without weight
decay, constant rate, 32 tokens, one thread, one epoch, in one process:

- ``weightspace``: :func:`weightspace.train.loop.fit` with the text batch source (texts
  tokenized once; each batch trimmed to its longest text), the loop every text run uses;
- ``plain``: the usual hand-written PyTorch loop: a DataLoader over the texts, the
  tokenizer called on every batch (padding to the longest), ``loss.item()`` every step;
- ``trainer``: Hugging Face ``Trainer`` (needs ``accelerate``) on pre-tokenized inputs
  with ``DataCollatorWithPadding``; the same model wrapped to return ``{"loss", "logits"}``;
  logging, checkpoints and evaluation off.

Each loop starts from the same initial weights and runs ``--repeats`` times, interleaved;
the best time is kept. Texts/s are computed from the process CPU time (the machine is
shared; the wall clock is printed too). Test accuracy on ``--test-size`` snippets is a
sanity check that every loop trained.

    .venv/bin/python bench/text_throughput.py [--train-size 500] [--repeats 2]
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from weightspace.data.text import load_text_dataset, text_subset
from weightspace.models.text import create_text_model
from weightspace.threads import set_threads
from weightspace.train import RunConfig
from weightspace.train.loop import fit
from weightspace.train.metrics import scores_from_logits
from weightspace.train.text import predict_text_logits, text_batch_source

LENGTH = 32
BATCH = 32
LR = 5e-5


def loop_weightspace(model: Any, train: Any, cfg: RunConfig) -> None:
    source = text_batch_source(model, train, cfg)
    fit(model, source, config=cfg)


def loop_plain(model: Any, train: Any, cfg: RunConfig) -> None:
    tok = model.tokenizer
    pairs = list(zip(train.texts, train.labels.tolist(), strict=True))
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(pairs, batch_size=BATCH, shuffle=True, generator=g,
                                         collate_fn=lambda b: list(zip(*b, strict=True)))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for texts, labels in loader:
        enc = tok(list(texts), padding="longest", truncation=True, max_length=LENGTH,
                  return_tensors="pt")  # fmt: skip
        x = torch.stack([enc["input_ids"], enc["attention_mask"]], 1)
        loss = F.cross_entropy(model(x), torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()


class _ForTrainer(torch.nn.Module):
    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Any, attention_mask: Any, labels: Any = None) -> dict:
        logits = self.model(torch.stack([input_ids, attention_mask], 1))
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


def loop_trainer(model: Any, train: Any, cfg: RunConfig) -> None:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    tok = model.tokenizer
    enc = tok(list(train.texts), truncation=True, max_length=LENGTH)
    rows = [
        {"input_ids": i, "attention_mask": m, "labels": int(y)}
        for i, m, y in zip(enc["input_ids"], enc["attention_mask"], train.labels, strict=True)
    ]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=BATCH, num_train_epochs=1,
            learning_rate=LR, weight_decay=0.0, lr_scheduler_type="constant",
            optim="adamw_torch", warmup_steps=0, max_grad_norm=0.0, logging_strategy="no",
            save_strategy="no", eval_strategy="no", report_to=[], use_cpu=True, seed=0,
            dataloader_num_workers=0, disable_tqdm=True,
        )  # fmt: skip
        trainer = Trainer(
            model=_ForTrainer(model), args=args, train_dataset=rows,
            data_collator=DataCollatorWithPadding(tok),
        )  # fmt: skip
        trainer.train()


LOOPS: dict[str, Callable[..., None]] = {
    "weightspace": loop_weightspace,
    "plain": loop_plain,
    "trainer": loop_trainer,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-size", type=int, default=500)
    ap.add_argument("--test-size", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--loops", nargs="+", default=list(LOOPS), choices=list(LOOPS))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    set_threads(args.threads)
    train = text_subset(load_text_dataset("rotten-tomatoes"), args.train_size, seed=0)
    test = text_subset(load_text_dataset("rotten-tomatoes", split="test"), args.test_size, seed=0)
    cfg = RunConfig(dataset="rotten-tomatoes", model="minilm-l6", max_length=LENGTH, epochs=1,
                    batch_size=BATCH, lr=LR, threads=args.threads, freeze_embeddings=True)  # fmt: skip
    torch.manual_seed(0)
    initial = create_text_model("minilm-l6", num_classes=2, freeze_embeddings=True)
    best: dict[str, tuple[float, float, float]] = {}
    for rep in range(args.repeats + 1):  # repeat 0 warms up (imports, allocator, caches)
        for name in args.loops:
            model = copy.deepcopy(initial)
            model.tokenizer = initial.tokenizer
            torch.manual_seed(0)
            c0, w0 = time.process_time(), time.perf_counter()
            LOOPS[name](model, train, cfg)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            if rep == 0:
                continue
            logits = predict_text_logits(model, test.texts, length=LENGTH, batch_size=128)
            acc = scores_from_logits(logits, test.labels)["acc"]
            if name not in best or cpu < best[name][0]:
                best[name] = (cpu, wall, acc)
    n = len(train)
    ref = best.get("weightspace", next(iter(best.values())))[0]
    print(f"{n} texts, 1 epoch, batch {BATCH}, {LENGTH} tokens, {args.threads} thread(s), "
          f"best of {args.repeats}")  # fmt: skip
    print(f"{'loop':<12} {'texts/s (CPU)':>14} {'vs weightspace':>14} {'texts/s (wall)':>15} "
          f"{'test acc':>9}")  # fmt: skip
    for name, (cpu, wall, acc) in best.items():
        print(f"{name:<12} {n / cpu:>14.1f} {ref / cpu:>13.2f}x {n / wall:>15.1f} {acc:>9.3f}")
    print("majority-class accuracy:", f"{max(np.bincount(test.labels.numpy())) / len(test):.3f}")


if __name__ == "__main__":
    main()
