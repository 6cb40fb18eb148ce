"""A terminal progress bar for training."""

from __future__ import annotations


class TqdmProgress:
    """A terminal progress bar over batches, with the epoch's metrics when it ends."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.bar = None

    def on_fit_start(self, trainer) -> None:
        pass

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss) -> None:
        if self.bar is None:
            self.bar = self._tqdm(
                total=n_batches,
                desc=f"epoch {epoch}/{trainer.config.epochs}",
                unit="batch",
                leave=False,
            )
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}")

    def on_epoch_end(self, trainer, record) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        f1 = record.get("valid_f1", float("nan"))
        acc = record.get("valid_accuracy", float("nan"))
        mean_ap = f"  valid_map {record['valid_map']:.3f}" if "valid_map" in record else ""
        print(
            f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f}  "
            f"valid_accuracy {acc:.3f}  valid_f1 {f1:.3f}{mean_ap}  ({record['seconds']:.1f} s)",
            flush=True,
        )

    def on_fit_end(self, trainer, status) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
