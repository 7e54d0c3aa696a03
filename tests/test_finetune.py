"""Baseline fine-tune (issue 8): mechanics on small inputs, and a CPU smoke run on a slice of the real release."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch", reason="needs the finetune extra (pip install -e '.[finetune]')")
pytest.importorskip("transformers", reason="needs the finetune extra")

import torch

from jokemine.config import FinetuneConfig
from jokemine.dataset_cards.baseline import END, PLACEHOLDER, START, patch_card
from jokemine.errors import ConfigError, JokemineError
from jokemine.finetune import data as D
from jokemine.finetune import train
from jokemine.finetune.metrics import compare, derangement, pairing_signal
from jokemine.finetune.progress import ProgressLines, print_every
from jokemine.finetune.train import METRICS, finetune
from tests.conftest import REPO

SMOKE = {"preset": "tiny", "device": "cpu", "max_steps": 200, "max_train_examples": 20000, "max_eval_examples": 1000}


# --- mechanics ---------------------------------------------------------------------------------------------------


def _tiny_llama(vocab: int = 40) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, use_cache=False,
    )  # fmt: skip
    return AutoModelForCausalLM.from_config(cfg).eval()


def _encoded(prompts: list[list[int]], targets: list[list[int]]) -> D.Encoded:
    return D.Encoded(
        prompts, targets, np.array([len(p) for p in prompts]), np.array([len(t) for t in targets]), truncated=0
    )


def test_packed_examples_do_not_attend_to_each_other() -> None:
    markers = D.Markers(bos=0, sep=[1], eos=0, pad=2)
    prompts = [[5, 6, 7], [8, 9], [10, 11, 12, 13], [14], [15, 16]]
    targets = [[20, 21], [22, 23, 24], [25], [26, 27], [28, 29, 30]]
    packed = D.pack(_encoded(prompts, targets), markers, 24, loss_on="all", seed=3)
    assert packed.tokens == sum(len(p) + len(t) + 3 for p, t in zip(prompts, targets, strict=True)) == 38
    assert len(packed) == 2  # 38 tokens in rows of 24: best fit needs two
    model = _tiny_llama()
    with torch.no_grad():
        logits = model(
            input_ids=torch.from_numpy(packed.input_ids), position_ids=torch.from_numpy(packed.position_ids)
        ).logits
        seen = 0
        for r in range(len(packed)):
            starts = np.flatnonzero(packed.position_ids[r] == 0)
            for a, b in zip(starts, [*starts[1:], packed.input_ids.shape[1]], strict=False):
                ids = packed.input_ids[r, a:b]
                if ids[0] != markers.bos:
                    continue  # padding
                alone = model(input_ids=torch.from_numpy(ids)[None]).logits[0]
                assert torch.allclose(logits[r, a:b], alone, atol=1e-5)
                seen += 1
                # without the position restart the same tokens see the previous example: different logits
                if a > 0:
                    leaky = model(input_ids=torch.from_numpy(packed.input_ids[r, :b])[None]).logits[0, a:b]
                    assert not torch.allclose(leaky, alone, atol=1e-3)
    assert seen == 5


def test_labels_score_punchline_only_when_asked() -> None:
    markers = D.Markers(bos=0, sep=[1], eos=3, pad=2)
    ids, labels = D.example_ids([5, 6], [7, 8], markers, "all")
    assert ids == [0, 5, 6, 1, 7, 8, 3]
    assert labels == [-100, 5, 6, 1, 7, 8, 3]
    _, labels = D.example_ids([5, 6], [7, 8], markers, "punchline")
    assert labels == [-100, -100, -100, -100, 7, 8, 3]


def test_derangement_stays_in_group_and_moves_everyone() -> None:
    groups = ["a"] * 5 + ["b"] * 2 + ["c"]
    for seed in range(20):
        perm = derangement(groups, np.random.default_rng(seed))
        assert sorted(perm) == list(range(8))
        assert all(groups[p] == groups[i] for i, p in enumerate(perm))
        assert all(p != i for i, p in enumerate(perm[:7])) and perm[7] == 7


def test_pairing_signal_and_standard_error() -> None:
    true = np.array([2.0, 4.0, 6.0, 1.0])
    tok = np.array([2, 2, 2, 1])
    shuffled = [true + np.array([0.2, 0.4, 0.0, 9.0]), true + np.array([0.4, 0.0, 0.2, 9.0])]
    p = pairing_signal(true, tok, shuffled, np.array([True, True, True, False]))
    assert p["signal"] == pytest.approx(0.6 / 6)  # mean extra nats (0.3 + 0.2 + 0.1) over 6 tokens
    assert p["per_shuffle"] == pytest.approx([0.1, 0.1])
    assert p["examples"] == 3 and p["se"] > 0 and p["z"] == pytest.approx(p["signal"] / p["se"])


def _metrics(test_bpb: float, **recipe: object) -> dict:
    base = {k: None for k in ("model", "vocab_size", "max_steps", "max_train_examples", "max_eval_examples")}
    return {
        "release": "r",
        "recipe": {**base, "config": "setup_punch", "preset": "tiny", **recipe},
        "splits": {"test": {"bpb": test_bpb, "punchline_bpb": test_bpb, "pairing": {"signal": 0.1}}},
    }


def test_compare_flags_a_regression_beyond_the_margin() -> None:
    prev = _metrics(2.0)
    assert compare(_metrics(2.03), prev, 0.02)["regression"] is False
    c = compare(_metrics(2.05), prev, 0.02)
    assert c["regression"] is True and c["bpb"]["change"] == pytest.approx(0.025) and not c["fixed_test_set"]
    fixed = {**_metrics(1.5), "previous_test": {"bpb": 2.1, "punchline_bpb": 2.0}}
    assert compare(fixed, prev, 0.02)["regression"] is True  # judged on the previous test split
    other = compare(_metrics(3.0, preset="mini"), prev, 0.02)
    assert other["regression"] is None and other["recipe_differs"] == ["preset"]
    assert compare(_metrics(2.0), None, 0.02) is None


def test_compile_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """On an H200 compiled steps ran 3x slower (bench/RESULTS.md), so ``auto`` does not compile, on CUDA either."""
    from jokemine.finetune.model import pick_hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: True)
    hw = pick_hardware("auto", "auto", None)
    assert (hw.device, hw.dtype, hw.compiled, hw.peak_tflops) == ("cuda", "bfloat16", False, 989.4)
    assert pick_hardware("cuda", "on", None).compiled is True
    assert pick_hardware("cpu", "auto", None).compiled is False


def test_patch_card_replaces_or_inserts_the_block() -> None:
    block = f"{START}\nnumbers\n{END}"
    card = f"# x\n\n## Baseline\n\n{PLACEHOLDER}\n\n## Known limitations and biases\n\ntext\n"
    out = patch_card(card, block)
    assert "numbers" in out and "No baseline yet" not in out and out.count(START) == 1
    assert patch_card(out, f"{START}\nagain\n{END}").count("again") == 1
    old = "# x\n\n## Known limitations and biases\n\ntext\n"
    assert patch_card(old, block).index("## Baseline") < patch_card(old, block).index("## Known limitations")


def test_progress_lines_every_n_steps_the_last_and_evals() -> None:
    assert print_every(200, 2) == 10 and print_every(40, 1) == 2 and print_every(5, 1) == 1
    assert print_every(100_000, 1000) == 5000
    lines: list[str] = []
    p = ProgressLines(lines.append, every=10, min_interval_s=3600)
    p.start()
    for step in range(2, 31, 2):
        p.log(step, 30, {"loss": 7.0 - step / 10, "learning_rate": 3e-4 * (1 - step / 30), "grad_norm": 1.0})
    p.log(30, 30, {"eval_loss": 1.0})
    assert [ln.split("  ")[:3] for ln in lines] == [
        ["step 2/30", "loss 6.800", "lr 2.80e-04"], ["step 10/30", "loss 6.000", "lr 2.00e-04"],
        ["step 20/30", "loss 5.000", "lr 1.00e-04"], ["step 30/30", "loss 4.000", "lr 0.00e+00"],
        ["eval step 30: loss 1.000", "perplexity 2.7"],
    ]  # fmt: skip
    assert all(re.fullmatch(r"\d+\.\d s", ln.split("  ")[-1]) for ln in lines[:4])
    slow: list[str] = []
    p = ProgressLines(slow.append, every=10, min_interval_s=0)  # a line at every logged step when time is up
    for step in (1, 2, 3):
        p.log(step, 30, {"loss": 1.0})
    assert [ln.split("  ")[0] for ln in slow] == ["step 1/30", "step 2/30", "step 3/30"]
    assert "lr" not in slow[0]


def test_report_to_is_validated_and_must_be_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert FinetuneConfig().report_to == [] and FinetuneConfig(report_to="none").report_to == []
    assert FinetuneConfig(report_to="wandb").report_to == ["wandb"]
    assert FinetuneConfig(report_to=["tensorboard", "none", "tensorboard"]).report_to == ["tensorboard"]
    with pytest.raises(ValueError, match="report_to"):
        FinetuneConfig(report_to=["mlflow"])
    (tmp_path / "MANIFEST.json").write_text("{}")
    monkeypatch.setattr(train, "_installed", lambda module: False)
    for name, pkg in (("wandb", "wandb"), ("tensorboard", "tensorboard")):
        with pytest.raises(ConfigError) as err:  # before anything is read or trained
            finetune(tmp_path, FinetuneConfig(**{**SMOKE, "report_to": [name]}))
        assert str(err.value) == (
            f"[finetune] report_to: {name} is not installed (pip install {pkg}); install it or leave it out of "
            "report_to"
        )
    monkeypatch.setattr(train, "_installed", lambda module: module == "tensorboardX")
    train.check_report_to(["tensorboard"])  # tensorboardX is enough, as for transformers


# --- the real release ---------------------------------------------------------------------------------------------


def _slice(release: Path, out: Path, shuffle_punchlines: bool = False) -> Path:
    """A release folder with the real release's setup_punch config (and manifest, card); with
    ``shuffle_punchlines`` each split's punchlines are permuted across rows (pairs destroyed, texts kept)."""
    (out / "setup_punch").mkdir(parents=True)
    for name in ("MANIFEST.json", "README.md"):
        shutil.copy(release / name, out / name)
    for f in sorted((release / "setup_punch").glob("*.parquet")):
        table = pq.read_table(f)
        if shuffle_punchlines:
            perm = np.random.default_rng(1).permutation(table.num_rows)
            col = table.column("punchline").take(pa.array(perm))
            table = table.set_column(table.schema.get_field_index("punchline"), "punchline", col)
        pq.write_table(table, out / "setup_punch" / f.name)
    return out


@pytest.fixture(scope="module")
def smoke(real_pipeline: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    release = real_pipeline["release"]
    root = tmp_path_factory.mktemp("finetune") / "releases"
    a = _slice(release, root / "A")
    manifest_sha = hashlib.sha256((a / "MANIFEST.json").read_bytes()).hexdigest()
    lines: list[str] = []
    report = finetune(a, FinetuneConfig(**SMOKE), echo=lines.append)
    return {"release": release, "root": root, "a": a, "report": report, "manifest_sha": manifest_sha, "lines": lines}


STEP_LINE = re.compile(r"step (\d+)/(\d+)  loss (\d+\.\d{3})  lr (\d\.\d\de[-+]\d\d)  (\d+\.\d) s")


def _progress(lines: list[str], m: dict) -> list[tuple[int, float]]:
    """The step lines among ``lines`` as (step, loss), after checking every line against the metrics."""
    t = m["training"]
    curve = dict(t["loss_curve"])
    assert lines[0] == f"eval validation (before training): loss {t['initial_validation_loss']:.3f}  perplexity " + (
        f"{math.exp(t['initial_validation_loss']):.1f}"
    )
    assert lines[1].startswith(f"training {t['steps']} steps of ")
    steps = [STEP_LINE.fullmatch(line) for line in lines[2:] if line.startswith("step ")]
    assert all(steps) and len(steps) == len([ln for ln in lines if ln.startswith("step")])
    out = [(int(x[1]), float(x[3])) for x in steps if x]
    assert all(int(x[2]) == t["steps"] for x in steps if x)
    assert [s for s, _ in out] == sorted({s for s, _ in out})  # in order, no repeats
    for step, loss in out:
        assert f"{curve[step]:.3f}" == f"{loss:.3f}", step  # the Trainer's logged loss at that step
    seconds = [float(x[5]) for x in steps if x]
    assert seconds == sorted(seconds)
    for split in ("validation", "test"):
        s = m["splits"][split]
        prefix = f"eval {split}: loss {s['loss']:.3f}  perplexity {s['perplexity']:.1f}  {s['bpb']:.3f} bits/byte  "
        assert sum(line.startswith(prefix + f"{s['examples']:,} examples  ") for line in lines) == 1, (prefix, lines)
    return out


def test_smoke_loss_falls_and_metrics_are_finite(smoke: dict) -> None:
    m = smoke["report"].metrics
    t = m["training"]
    assert t["steps"] == 200 and t["examples"] == 20000
    assert t["fill"] > 0.95  # best-fit packing
    assert t["loss_last"] < t["loss_first"] - 1.0  # 7.2 -> 5.3 nats when measured
    assert m["splits"]["validation"]["loss"] < t["initial_validation_loss"] - 1.0
    assert t["initial_validation_loss"] == pytest.approx(math.log(m["model"]["vocab_size"]), abs=0.5)
    for split in ("validation", "test"):
        s = m["splits"][split]
        assert s["examples"] == 1000
        assert math.isfinite(s["perplexity"]) and s["perplexity"] == pytest.approx(math.exp(s["loss"]))
        assert 1.0 < s["bpb"] < 4.0 and 1.0 < s["punchline_bpb"] < 4.5
        assert s["bpb"] == pytest.approx(s["loss"] * s["tokens"] / (math.log(2) * s["bytes"]))
        assert sum(v["examples"] for v in s["per_source"].values()) == 1000
        assert s["per_source"]["rjokes"]["examples"] > 300
    assert m["hardware"]["device"] == "cpu" and t["mfu"] is None and t["tokens_per_s"] > 0
    assert m["comparison"] is None and m["regression"] is None
    # progress lines: the first logged step (2), every 10th step (200 steps / 20 lines) up to the last, and the losses
    # the Trainer logged there; more only when a minute passed between two of them
    printed = _progress(smoke["lines"], m)
    assert {2, *range(10, 201, 10)} <= {s for s, _ in printed} and printed[-1][0] == 200
    assert "report_to" not in m["recipe"]


def test_smoke_pairing_signal_is_positive_for_true_pairs_and_vanishes_for_shuffled(smoke: dict) -> None:
    true = smoke["report"].metrics["splits"]
    for split in ("validation", "test"):
        p = true[split]["pairing"]
        assert len(p["per_shuffle"]) == 3 and p["examples"] >= 990
        assert p["signal"] > 0 and p["z"] > 4, p
    bad = _slice(smoke["release"], smoke["root"] / "mispaired", shuffle_punchlines=True)
    m = finetune(bad, FinetuneConfig(**SMOKE)).metrics
    for split in ("validation", "test"):
        p = m["splits"][split]["pairing"]
        assert abs(p["z"]) < 3 and abs(p["signal"]) < true[split]["pairing"]["signal"] / 2, p


def test_smoke_metrics_land_in_the_release_and_its_card(smoke: dict) -> None:
    a = smoke["a"]
    on_disk = json.loads((a / METRICS).read_text())
    assert on_disk == json.loads(json.dumps(smoke["report"].metrics))
    card = (a / "README.md").read_text()
    assert card.count(START) == 1 and "No baseline yet" not in card
    test = on_disk["splits"]["test"]
    assert f"| test | 1,000 | {test['loss']:.3f} | {test['perplexity']:.1f} | {test['bpb']:.3f} |" in card
    assert "No previous baseline to compare with." in card
    assert hashlib.sha256((a / "MANIFEST.json").read_bytes()).hexdigest() == smoke["manifest_sha"]
    assert not list(a.glob("**/*.tmp*"))


def test_cli_compares_with_the_previous_release_and_exits_3_on_regression(smoke: dict, tmp_path: Path) -> None:
    """B has A's data: the same seed gives the same model, so B scores A's test split exactly as A did. With A's
    recorded test bits per byte lowered by 10%, B is flagged as a regression (exit code 3)."""
    a_metrics = smoke["report"].metrics
    prev = tmp_path / "A"
    shutil.copytree(smoke["a"], prev)
    doctored = json.loads(json.dumps(a_metrics))
    doctored["splits"]["test"]["bpb"] *= 0.9
    (prev / METRICS).write_text(json.dumps(doctored))
    b = _slice(smoke["release"], tmp_path / "B")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SMOKE.items()]
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "finetune", "--release", str(b), "--previous", str(prev), *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr[-2000:]
    assert "REGRESSION" in r.stdout
    m = json.loads((b / METRICS).read_text())
    lines = r.stdout.splitlines()
    assert _progress(lines, m)[-1][0] == 200  # the command prints the progress lines on stdout, then the summary
    pt = m["previous_test"]
    assert f"eval test of A: loss {pt['loss']:.3f}  perplexity {pt['perplexity']:.1f}  {pt['bpb']:.3f} bits/byte" in (
        r.stdout
    )
    last_step = max(i for i, ln in enumerate(lines) if ln.startswith("step 200/200 "))
    assert last_step < next(i for i, ln in enumerate(lines) if ln.startswith("baseline of B (setup_punch)"))
    # reproducible up to float32 CPU kernels, whose reduction order may differ between two processes (seen: 2e-9
    # relative); 1e-6 is still four orders of magnitude below the 2.5% regression threshold
    assert m["previous_test"]["bpb"] == pytest.approx(a_metrics["splits"]["test"]["bpb"], rel=1e-6)
    assert m["previous_test"]["excluded_in_train"] == 0 and m["previous_test"]["release"] == "A"
    c = m["comparison"]
    assert c["fixed_test_set"] and c["regression"] is True and c["bpb"]["change"] == pytest.approx(1 / 0.9 - 1)
    assert "**regression**" in (b / "README.md").read_text()


def test_pretrained_model_from_a_local_folder(smoke: dict, tmp_path: Path) -> None:
    """``--model`` with a local GPT-2-style folder whose tokenizer has no separator token (like distilgpt2's):
    the separator is a line break, and the model trains from its saved weights."""
    from transformers import AutoModelForCausalLM, GPT2Config, PreTrainedTokenizerFast

    train = D.load_split(smoke["a"], "setup_punch", "train", limit=3000)
    bpe = D.train_tokenizer(list(train["prompt"]) + list(train["target"]), 600)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe.backend_tokenizer, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=128, eos_token_id=0)
    folder = tmp_path / "gpt2-local"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    assert D.Markers.of(tok).sep == tok.encode("\n", add_special_tokens=False)
    fcfg = FinetuneConfig(
        **{**SMOKE, "model": str(folder), "max_steps": 20, "block_size": 128, "max_eval_examples": 50}
    )
    m = finetune(smoke["a"], fcfg, write=False, previous=smoke["a"]).metrics
    assert m["model"]["type"] == "gpt2" and m["model"]["pretrained"] == str(folder)
    assert m["training"]["loss_last"] < m["training"]["loss_first"]
    assert math.isfinite(m["splits"]["test"]["bpb"])
    assert m["comparison"]["regression"] is None and "model" in m["comparison"]["recipe_differs"]


def test_errors_name_the_model_and_the_folder(smoke: dict, tmp_path: Path) -> None:
    with pytest.raises(JokemineError, match="--model distilgpt2: cannot load this Hub model"):
        finetune(smoke["a"], FinetuneConfig(**{**SMOKE, "model": "distilgpt2"}), write=False)
    with pytest.raises(JokemineError, match="not a release folder"):
        finetune(tmp_path, FinetuneConfig(**SMOKE))
    with pytest.raises(JokemineError, match="must be outside the release"):
        finetune(smoke["a"], FinetuneConfig(**SMOKE), save_model=smoke["a"] / "model")
    empty = tmp_path / "r"
    (empty / "setup_punch").mkdir(parents=True)
    (empty / "MANIFEST.json").write_text("{}")
    with pytest.raises(JokemineError, match=r"no train-\*\.parquet files"):
        finetune(empty, FinetuneConfig(**SMOKE))
