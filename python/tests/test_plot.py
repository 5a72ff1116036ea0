"""dclkit.plot.history: the PNG is written, decodes, has the documented size, shows the curves
it should, leaves pyplot alone, and bad histories raise."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dclkit
from dclkit import plot

LOSS_BLUE = (0x1F, 0x77, 0xB4)  # matplotlib's tab:blue, the loss curve
KNN_GREEN = (0x2C, 0xA0, 0x2C)  # tab:green, the kNN curve


def run(epochs: int, knn_every: int | None) -> list[dict]:
    """A history as Trainer.fit records it; kNN on every knn_every-th epoch."""
    return [
        {"epoch": e, "loss": 6.0 - 0.4 * e, "lr": 0.1, "seconds": 2.0, "images_per_s": 500.0,
         **({"knn_top1": 0.1 + 0.05 * e} if knn_every and e % knn_every == 0 else {})}
        for e in range(1, epochs + 1)
    ]


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def has_colour(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((np.abs(image.astype(int) - colour).max(axis=2) <= 8).sum() > 20)


def test_history_with_knn_writes_a_two_panel_1000x400_png_with_both_curves(tmp_path):
    path = plot.history(run(10, knn_every=2), tmp_path / "history.png", title="dcl")
    assert path == tmp_path / "history.png"
    image = pixels(path)
    assert image.shape == (400, 1000, 3)
    assert has_colour(image[:, :500], LOSS_BLUE) and has_colour(image[:, 500:], KNN_GREEN)
    assert not has_colour(image[:, :500], KNN_GREEN)


def test_history_without_knn_writes_one_500x400_panel_with_the_loss_only(tmp_path):
    image = pixels(plot.history(run(3, knn_every=None), str(tmp_path / "loss.png")))
    assert image.shape == (400, 500, 3)
    assert has_colour(image, LOSS_BLUE) and not has_colour(image, KNN_GREEN)


def test_history_with_diagnostics_adds_their_panel(tmp_path):
    history = [dict(entry, npc_mean=0.9, npc_p10=0.8, npc_p90=0.95, positive_cosine=0.5, collapse_std=0.08)
               for entry in run(4, knn_every=2)]
    image = pixels(plot.history(history, tmp_path / "diagnostics.png"))
    assert image.shape == (400, 1500, 3)
    assert has_colour(image[:, 1000:], LOSS_BLUE), "the multiplier's mean is drawn in the third panel"


def test_history_of_one_epoch_with_nan_loss_still_plots(tmp_path):
    history = [{"epoch": 1, "loss": float("nan"), "knn_top1": 42.0}, {"epoch": 2, "loss": 3.0, "knn_top1": None}]
    assert pixels(plot.history(history, tmp_path / "nan.png")).shape == (400, 1000, 3)


def test_history_leaves_pyplot_figures_and_backend_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    plot.history(run(2, knn_every=1), tmp_path / "quiet.png")
    assert matplotlib.get_backend() == backend and plt.get_fignums() == figures


@pytest.mark.parametrize("history,error,word", [
    ([], dclkit.DCLValueError, "empty"),
    ({"epoch": 1, "loss": 1.0}, dclkit.DCLTypeError, "list"),
    ("epoch,loss", dclkit.DCLTypeError, "list"),
    (None, dclkit.DCLTypeError, "list"),
    ([("epoch", 1)], dclkit.DCLTypeError, r"history\[0\]"),
    ([{"epoch": 1}], dclkit.DCLValueError, "'loss'"),
    ([{"loss": 1.0}], dclkit.DCLValueError, "'epoch'"),
    ([{"epoch": 1, "loss": "low"}], dclkit.DCLTypeError, "'loss'"),
    ([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5, "knn_top1": "90%"}], dclkit.DCLTypeError, r"history\[1\]\['knn_top1'\]"),
])
def test_history_rejects_bad_histories(tmp_path, history, error, word):
    with pytest.raises(error, match=word):
        plot.history(history, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_history_into_a_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        plot.history(run(2, knn_every=None), tmp_path / "nowhere" / "plot.png")
