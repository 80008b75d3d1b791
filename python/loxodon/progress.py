"""Per-epoch progress on the driver: one line per epoch with loss, metrics,
validation metrics, samples per second and parameter-server updates."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def format_logs(logs: dict[str, Any]) -> str:
    order = sorted(logs, key=lambda k: (k.startswith("val_"), k != "loss" and k != "val_loss", k))
    return " - ".join(f"{k}: {logs[k]:.4f}" for k in order if isinstance(logs[k], float))


class EpochProgress:
    """A tqdm bar over epochs whose postfix and log lines carry the metrics."""

    def __init__(self, epochs: int, initial_epoch: int, verbose: int, description: str) -> None:
        self.verbose = verbose
        self.bar = (
            tqdm(
                total=epochs,
                initial=initial_epoch,
                desc=description,
                unit="epoch",
                file=sys.stdout,
                leave=True,
                dynamic_ncols=True,
            )
            if verbose
            else None
        )

    def epoch(self, epoch: int, epochs: int, logs: dict[str, Any], extra: dict[str, Any]) -> None:
        if self.bar is None:
            return
        rate = extra.get("samples_per_sec", 0.0)
        updates = extra.get("server_updates")
        line = f"Epoch {epoch + 1}/{epochs} - {format_logs(logs)} - {rate:,.0f} samples/s"
        if updates is not None:
            line += f" - server updates: {int(updates):,}"
        self.bar.write(line)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
