"""Training entrypoint: ``train.entrypoint: digits.train:train`` in lepton.yaml.

lepton-ci seeds python/numpy/torch, picks the device and hands us a TrainContext. We write the
model with ``ctx.save_model`` (a torch.export program, model.pt2) and checkpoint every epoch so
an interrupted job resumes.
"""

from __future__ import annotations

import torch
from torch import nn

from digits.data import load
from digits.model import DigitsCNN


def train(ctx) -> None:  # type: ignore[no-untyped-def]
    params = ctx.params
    epochs = int(params.get("epochs", 8))
    dataset = load(ctx.data[0])
    loader = ctx.data_loader(dataset, batch_size=int(params.get("batch_size", 64)))

    model = ctx.wrap_model(
        DigitsCNN(
            channels=int(params.get("channels", 16)), dropout=float(params.get("dropout", 0.2))
        )
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params.get("lr", 0.003)))
    loss_fn = nn.CrossEntropyLoss()

    start = 0
    state = ctx.resume()  # None on a fresh run
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1

    for epoch in ctx.progress(range(start, epochs), total=epochs - start, desc="epochs"):
        loader.sampler.set_epoch(epoch)
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for images, labels in loader:
            images, labels = images.to(ctx.device), labels.to(ctx.device)
            optimizer.zero_grad()
            logits = model(images)
            loss = loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            total += len(labels)
        ctx.log_metric("train_loss", loss_sum / total, step=epoch)
        ctx.log_metric("train_accuracy", correct / total, step=epoch)
        ctx.checkpoint(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        )

    ctx.save_model(model, example_input=dataset.tensors[0][:1])
