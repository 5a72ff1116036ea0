"""The sweep report: means and 95% t intervals over seeds match a float64 reference, paired
differences and per-seed spreads too; the plots are written and decode; the CLI prints the
tables."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

import dclkit
from dclkit import report

# Student t 0.975 quantiles in closed form: df = 1 is the Cauchy distribution, tan(pi (p - 1/2));
# df = 2 has the quantile (2p - 1) / sqrt(2 p (1 - p)).
P = 0.975
T975 = {1: math.tan(math.pi * (P - 0.5)), 2: (2 * P - 1) / math.sqrt(2 * P * (1 - P))}


def reference_ci(values) -> tuple[float, float]:
    x = np.asarray(values, dtype=np.float64)
    return x.mean(), T975[len(x) - 1] * np.sqrt(((x - x.mean()) ** 2).sum() / (len(x) - 1)) / np.sqrt(len(x))


def make_line(method: str, batch: int, tau: float, seed: int, rng: np.random.Generator, epochs: int = 4) -> dict:
    knn, probe = rng.uniform(0.3, 0.6), rng.uniform(0.4, 0.7)
    history = [{"epoch": e, "loss": 5.0 - 0.3 * e + 0.01 * seed, "lr": 0.1, "seconds": 2.0, "images_per_s": 100.0,
                **({"knn_top1": knn * e / epochs} if e % 2 == 0 else {})} for e in range(1, epochs + 1)]
    return {"id": f"{method}-{batch}-{tau}-{seed}", "sweep": "toy",
            "overrides": {"method": method, "batch_size": batch, "temperature": tau, "seed": seed},
            "config": {"method": method, "batch_size": batch, "temperature": tau, "seed": seed, "epochs": epochs},
            "data": {"name": "toy", "train_images": 100, "eval_images": 20, "classes": 4, "fingerprint": "0" * 16},
            "evaluation": {"knn_k": 20, "knn_temperature": 0.1, "linear_probe": True, "knn_every": 2},
            "history": history, "knn_top1": knn, "linear_probe_top1": probe, "resumed_from_epoch": 0,
            "seconds": 60.0, "train_seconds": 8.0, "threads": 2, "dclkit": "0.1.0", "cpu": "test CPU",
            "finished": "2026-12-01T00:00:00Z"}


@pytest.fixture
def lines():
    rng = np.random.default_rng(11)
    out = []
    for method in ("simclr", "dcl"):
        for batch, tau in [(32, 0.1), (64, 0.1), (64, 0.2), (64, 0.5)]:
            for seed in (0, 1, 2):
                out.append(make_line(method, batch, tau, seed, rng))
    out.append({**make_line("moco", 128, 0.1, 0, rng), "overrides": {"method": "moco", "batch_size": 128,
                                                                     "recipe": "moco_cifar"}})
    return out


def table_rows(text: str, title: str) -> list[list[str]]:
    """The body rows of the Markdown table under the heading ``title``."""
    block = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in block.splitlines() if row.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_mean_ci_is_the_student_t_interval():
    for values in ([0.81, 0.79], [0.80, 0.83, 0.86], [0.5, 0.5, 0.5]):
        mean, half = report.mean_ci(values)
        want_mean, want_half = reference_ci(values)
        assert mean == pytest.approx(want_mean, abs=1e-15) and half == pytest.approx(want_half, rel=1e-12)
    mean, half = report.mean_ci([0.7])
    assert mean == 0.7 and math.isnan(half)


def reference_slope_ci(x, y) -> tuple[float, float]:
    """Ordinary least squares from the normal equations, [1 x]·β = y, and the slope's standard error
    from the residual variance and (XᵀX)⁻¹."""
    design = np.column_stack([np.ones(len(x)), np.asarray(x, dtype=np.float64)])
    beta = np.linalg.solve(design.T @ design, design.T @ np.asarray(y, dtype=np.float64))
    residual = np.asarray(y) - design @ beta
    variance = residual @ residual / (len(x) - 2)
    return beta[1], T975[len(x) - 2] * math.sqrt(variance * np.linalg.inv(design.T @ design)[1, 1])


def test_slope_ci_is_the_least_squares_slope_with_its_student_t_interval():
    for x, y in (([5, 7, 8], [0.02, -0.01, 0.005]), ([5, 5, 7, 8], [0.03, 0.01, -0.02, -0.01])):
        slope, half = report.slope_ci(x, y)
        want_slope, want_half = reference_slope_ci(x, y)
        assert slope == pytest.approx(want_slope, rel=1e-12) and half == pytest.approx(want_half, rel=1e-12)
    assert all(math.isnan(v) for v in report.slope_ci([5, 7], [0.1, 0.2]))
    assert all(math.isnan(v) for v in report.slope_ci([5, 5, 5], [0.1, 0.2, 0.3]))


def test_the_difference_from_the_baseline_is_fitted_against_log2_of_the_batch_size(lines):
    rng = np.random.default_rng(5)
    runs = [(32, 0), (32, 1), (64, 0), (256, 0)]  # four points: df = 2, a closed-form quantile
    trend = [make_line(method, batch, 0.2, seed, rng) for method in ("simclr", "dcl") for batch, seed in runs]
    rows = table_rows(report.markdown(trend), "Difference from NT-Xent against batch size")
    by_id = {line["id"]: line for line in trend}
    assert len(rows) == 1 and rows[0][:3] == ["DCL", "temperature 0.2", "32, 64, 256"]
    for column, key in ((3, "knn_top1"), (4, "linear_probe_top1")):
        x = [math.log2(batch) for batch, _ in runs]
        y = [by_id[f"dcl-{batch}-0.2-{seed}"][key] - by_id[f"simclr-{batch}-0.2-{seed}"][key] for batch, seed in runs]
        slope, half = reference_slope_ci(x, y)
        assert rows[0][column] == f"{100 * slope:+.2f} ± {100 * half:.2f} (4)"
    assert "against batch size" not in report.markdown(lines)  # DCL at two batch sizes per temperature: no trend


def test_each_baseline_gets_its_table_of_the_rows_that_have_a_twin_with_it(tmp_path, lines, capsys):
    rng = np.random.default_rng(8)
    moco = []
    for method in ("moco", "moco-dcl"):
        for seed in (0, 1, 2):
            line = make_line(method, 256, 0.2, seed, rng)
            moco.append({**line, "overrides": {**line["overrides"], "recipe": "moco_cifar"}})
    text = report.markdown(lines + moco)  # the default: every contrastive family's InfoNCE form
    assert {row[0] for row in table_rows(text, "Difference from NT-Xent")} == {"DCL"}
    rows = table_rows(text, "Difference from MoCo")
    assert len(rows) == 1 and rows[0][:3] == ["MoCo-DCL", "256", "0.2"] and rows[0][-3] == "3"
    by_id = {line["id"]: line for line in moco}
    for column, key in ((-2, "knn_top1"), (-1, "linear_probe_top1")):
        mean, half = reference_ci([by_id[f"moco-dcl-256-0.2-{s}"][key] - by_id[f"moco-256-0.2-{s}"][key] for s in range(3)])
        assert rows[0][column] == f"{100 * mean:+.1f} ± {100 * half:.1f}"
    assert "Difference from NNCLR" not in text  # no row has an NNCLR twin

    only = report.markdown(lines + moco, baseline="simclr")
    assert "Difference from NT-Xent" in only and "Difference from MoCo" not in only
    just_moco = report.markdown(lines + moco, baseline=["moco"])
    assert just_moco.count("## Difference from") == 1 and "## Difference from MoCo" in just_moco
    for bad, error in (("byol2", dclkit.DCLValueError), ([], dclkit.DCLTypeError), ([3], dclkit.DCLTypeError),
                       (None, dclkit.DCLTypeError)):
        with pytest.raises(error):
            report.markdown(lines, baseline=bad)

    from dclkit.__main__ import main

    results = tmp_path / "moco.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines + moco))
    assert main(["report", str(results), "--baseline", "moco,simclr"]) == 0
    out = capsys.readouterr().out
    assert out.index("Difference from MoCo") < out.index("Difference from NT-Xent")
    assert main(["report", str(results), "--baseline", "mocov9"]) == 2
    assert "unknown baseline method 'mocov9'" in capsys.readouterr().err


def test_every_setting_row_shows_the_mean_and_interval_over_seeds(lines):
    text = report.markdown(lines)
    rows = table_rows(text, "Every setting")
    assert len(rows) == 9
    by_setting = {(row[0], row[1], row[2]): row for row in rows}
    for method, label in (("simclr", "NT-Xent"), ("dcl", "DCL")):
        for batch, tau in [(32, 0.1), (64, 0.1), (64, 0.5)]:
            mine = [l for l in lines if l["config"]["method"] == method and l["config"]["batch_size"] == batch
                    and l["config"]["temperature"] == tau]
            row = by_setting[(label, str(batch), str(tau))]
            for column, key in ((-3, "knn_top1"), (-2, "linear_probe_top1")):
                mean, half = reference_ci([l[key] for l in mine])
                assert row[column] == f"{100 * mean:.1f} ± {100 * half:.1f}"
            assert row[-4] == "3"
    moco = by_setting[("MoCo", "128", "0.1")]
    assert moco[-3] == f"{100 * lines[-1]['knn_top1']:.1f}"  # one seed: no interval
    assert "moco_cifar" in moco


def test_columns_beyond_method_batch_and_temperature_show_what_the_spec_set(lines):
    rng = np.random.default_rng(3)
    blur = [{**line, "id": line["id"] + "-blur", "overrides": {**line["overrides"], "augment": {"pipeline": "simclr", "blur": 0.5}}}
            for line in (make_line("simclr", 64, 0.1, seed, rng) for seed in (0, 1))]
    text = report.markdown(lines + blur)
    header = next(row for row in text.split("## Every setting", 1)[1].splitlines() if row.startswith("|"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    rows = table_rows(text, "Every setting")
    augment, recipe = columns.index("augment"), columns.index("recipe")
    assert [row[augment] for row in rows if row[augment]] == ["simclr, blur 0.5"]
    assert [row[recipe] for row in rows if row[recipe]] == ["moco_cifar"]  # blank: the spec's base
    assert rows[-1][:3] == ["NT-Xent", "64", "0.1"] and rows[-1][-4] == "2"

    changed = table_rows(text, "Difference from the base setting")
    assert len(changed) == 1 and changed[0][augment] == "simclr, blur 0.5"  # MoCo has no base twin
    base = {l["config"]["seed"]: l for l in lines if l["overrides"] == {"method": "simclr", "batch_size": 64,
                                                                          "temperature": 0.1, "seed": l["config"]["seed"]}}
    mean, half = reference_ci([line["knn_top1"] - base[line["config"]["seed"]]["knn_top1"] for line in blur])
    assert changed[0][-2] == f"{100 * mean:+.1f} ± {100 * half:.1f}" and changed[0][-3] == "2"


def test_header_names_every_machine_a_resumed_sweep_ran_on(lines):
    assert "; test CPU; 2 threads per run;" in report.markdown(lines)
    mixed = lines[:4] + [{**line, "cpu": "other CPU"} for line in lines[4:]]
    assert "; other CPU (21 runs), test CPU (4 runs);" in report.markdown(mixed)


def test_differences_are_paired_by_seed_and_spreads_taken_within_a_seed(lines):
    text = report.markdown(lines, baseline="simclr")
    rows = {(row[0], row[1], row[2]): row for row in table_rows(text, "Difference from NT-Xent")}
    assert set(rows) == {("DCL", b, t) for b, t in [("32", "0.1"), ("64", "0.1"), ("64", "0.2"), ("64", "0.5")]}

    def top1(method, batch, tau, key="knn_top1"):
        setting = {l["id"]: l for l in lines}
        return np.array([setting[f"{method}-{batch}-{tau}-{seed}"][key] for seed in (0, 1, 2)])

    diff = top1("dcl", 32, 0.1) - top1("simclr", 32, 0.1)
    mean, half = reference_ci(diff)
    assert rows[("DCL", "32", "0.1")][-2] == f"{100 * mean:+.1f} ± {100 * half:.1f}"

    spreads = {row[0]: row for row in table_rows(text, "Spread over temperature")}
    per_seed = np.stack([top1("dcl", 64, t, "linear_probe_top1") for t in (0.1, 0.2, 0.5)])
    mean, half = reference_ci(per_seed.max(axis=0) - per_seed.min(axis=0))
    assert spreads["DCL"][-1] == f"{100 * mean:.1f} ± {100 * half:.1f}"
    assert spreads["DCL"][2] == "0.1, 0.2, 0.5"


def test_report_writes_markdown_and_plots_that_decode(tmp_path, lines, capsys):
    results = tmp_path / "toy.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    text = report.report(results)
    folder = tmp_path / "toy"
    assert (folder / "report.md").read_text() in text
    sizes = {}
    for name in ("top1_vs_batch_size.png", "top1_vs_temperature.png", "curves.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG"
            sizes[name] = image.size
            assert np.asarray(image.convert("L")).std() > 5  # something is drawn
    assert sizes["top1_vs_batch_size.png"] == (1000, 400)
    assert sizes["curves.png"] == (1000 + report.LEGEND_PIXELS, 1200)  # a row per method: NT-Xent, DCL, MoCo

    from dclkit.__main__ import main

    assert main(["report", str(results), "--out", str(tmp_path / "o")]) == 0
    assert "## Every setting" in capsys.readouterr().out and (tmp_path / "o" / "curves.png").exists()
    assert main(["report", str(tmp_path / "none.jsonl")]) == 2
    assert "no such results file" in capsys.readouterr().err


def with_diagnostics(line: dict) -> dict:
    """``line`` with the per-epoch diagnostics a current run records (q_B falling over the epochs)."""
    history = []
    for record in line["history"]:
        e = record["epoch"]
        history.append({**record, "npc_mean": 0.9 - 0.05 * e, "npc_p10": 0.8 - 0.05 * e, "npc_p50": 0.9 - 0.05 * e,
                        "npc_p90": 0.97 - 0.02 * e, "positive_cosine": 0.5 + 0.05 * e, "negative_cosine": 0.1,
                        "alignment": 1.0 - 0.1 * e, "uniformity": -1.0 - 0.2 * e, "collapse_std": 0.08})
    return {**line, "history": history}


def test_diagnostics_are_drawn_per_batch_size_and_tabled_at_the_last_epoch(tmp_path, lines):
    results = tmp_path / "diag.jsonl"
    results.write_text("".join(json.dumps(with_diagnostics(line)) + "\n" for line in lines))
    text = report.report(results)
    folder = tmp_path / "diag"
    sizes = {}
    for name in ("npc.png", "diagnostics.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG"
            sizes[name] = image.size
            assert np.asarray(image.convert("L")).std() > 5
    # batch sizes 32, 64 and 128 (MoCo): one q_B panel each; one row of the five diagnostics each
    assert sizes["npc.png"] == (3 * 500 + report.LEGEND_PIXELS, 400)
    assert sizes["diagnostics.png"] == (len(report.DIAGNOSTICS) * 500 + report.LEGEND_PIXELS, 3 * 400)
    rows = table_rows(text, "Diagnostics of the last epoch")
    assert len(rows) == 9
    last = with_diagnostics(lines[0])["history"][-1]
    dcl32 = next(row for row in rows if row[:3] == ["DCL", "32", "0.1"])
    assert dcl32[-9:-5] == ["3", f"{last['npc_p50']:.3f}", f"{last['npc_p10']:.3f}", f"{last['npc_p90']:.3f}"]
    assert dcl32[-1] == "0.080"


def test_results_without_diagnostics_get_no_diagnostics_plots_nor_table(tmp_path, lines):
    results = tmp_path / "old.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    text = report.report(results)
    assert "Diagnostics of the last epoch" not in text and not report.has_diagnostics(lines)
    assert not (tmp_path / "old" / "npc.png").exists() and not (tmp_path / "old" / "diagnostics.png").exists()


def test_methods_without_a_temperature_are_read_and_reported(tmp_path, lines):
    """BYOL, SimSiam, Barlow Twins and VICReg resolve no ``temperature``: their lines read (the
    long study's first baseline lines once failed here) and their rows show a blank τ cell."""
    rng = np.random.default_rng(5)
    baselines = []
    for seed in (0, 1):
        line = make_line("byol", 128, 0.1, seed, rng)
        del line["config"]["temperature"], line["overrides"]["temperature"]
        baselines.append(line)
    results = tmp_path / "toy.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines + baselines))
    text = report.report(results)
    rows = [row for row in table_rows(text, "Every setting") if row[0] == report.LABELS.get("byol", "byol")]
    assert len(rows) == 1 and rows[0][1:3] == ["128", ""]
    bad = {**baselines[0], "config": {**baselines[0]["config"], "temperature": "warm"}}
    results.write_text(json.dumps(bad) + "\n")
    with pytest.raises(dclkit.DCLFormatError, match="config.temperature"):
        report.report(results)
