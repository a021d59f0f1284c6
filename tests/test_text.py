"""C17: character sequences (data=text), the 1-D ResNets (net=resnet1d) and the n-gram JS metric."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import FAST, run_in_process
from genzoo.errors import ConfigError, DatasetNotFoundError
from genzoo.training import train

TINY = ["data=text", "net.generator.width=8", "net.discriminator.width=8", "net.generator.blocks=1",
        "net.discriminator.blocks=1", "data.seq_len=8", "data.batch_size=16"]


def corpus(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "corpus.txt"
    p.write_text(text, encoding="utf-8")
    return p


# --- the data -------------------------------------------------------------------------------------------
def test_cleaning_keeps_prose_in_the_character_set():
    from genzoo.data.text import clean_corpus

    raw = "The \u201cQuick\u201d  brown\tfox \u2014 caf\u00e9!\n    x = f(3) + [y]  # code\n----------\nJumps over.\n"
    assert clean_corpus(raw) == 'the "quick" brown fox - cafe! jumps over.'
    assert clean_corpus(raw, charset=None, lowercase=False, min_letter_share=0) == \
        'The "Quick" brown fox - cafe! x = f(3) + [y] # code ---------- Jumps over.'


def test_one_hot_round_trip_and_windows_of_the_corpus(tmp_path):
    from genzoo.data import Text

    text = "the cat sat on the mat. " * 40
    dm = Text(path=str(corpus(tmp_path, text)), seq_len=8, charset=None, batch_size=4)
    assert dm.vocab == "".join(sorted(set(text.strip())))
    assert dm.shape == (len(dm.vocab), 8)
    windows = [text.strip()[i : i + 8] for i in range(0, len(text.strip()) // 8 * 8, 8)]
    train, test = dm.texts("train"), dm.texts("test")
    assert sorted(train + test) == sorted(windows)
    x = dm.take(dm.dataset("train"), list(range(len(train))))[0]
    assert x.shape == (len(train), len(dm.vocab), 8)
    assert torch.equal(x.sum(1), torch.ones(len(train), 8))  # exactly one character per position
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert dm.decode(x) == train
    assert torch.equal(dm.encode(train), x)
    # a generator's per-position distributions decode by argmax
    soft = 0.5 * x + 0.5 / len(dm.vocab)
    assert dm.decode(soft) == train


def test_held_out_split_is_fixed_disjoint_and_the_stated_share(tmp_path):
    from genzoo.data import Text

    text = " ".join(f"word{i:04d}" for i in range(2000))
    parts = {}
    for seed in (0, 1):
        dm = Text(path=str(corpus(tmp_path, text)), seq_len=10, charset="word0123456789 ", min_letter_share=0,
                  seed=seed, held_out_fraction=0.1, batch_size=8)
        w = dm.windows()
        train, test = dm.dataset("train").indices, dm.dataset("test").indices
        assert len(test) == round(0.1 * len(w)) and len(train) + len(test) == len(w)
        rows = lambda t: {tuple(r) for r in t.tolist()}  # noqa: E731
        assert not rows(train) & rows(test)  # the windows are all distinct here, so no window is in both
        parts[seed] = rows(test)
    assert parts[0] == parts[1]  # the same sequences are held out whatever the run's seed


def test_embedded_corpus_is_english_prose_of_a_small_character_set():
    from genzoo.data import Text

    dm = Text()
    assert len(dm.vocab) == 48 and dm.shape == (48, 32)
    assert len(dm.windows()) > 10_000
    joined = " ".join(dm.texts("test"))
    assert joined.count(" the ") > 100  # prose, not code


def test_bad_text_inputs_are_explained(tmp_path):
    from genzoo.data import Text

    with pytest.raises(DatasetNotFoundError, match="data.path=.*nowhere.txt is not a file"):
        Text(path=str(tmp_path / "nowhere.txt")).windows()
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1") * 20)
    with pytest.raises(DatasetNotFoundError, match="is not UTF-8 text"):
        Text(path=str(tmp_path / "latin1.txt")).windows()
    with pytest.raises(ConfigError, match="fewer than two sequences of data.seq_len=32"):
        Text(path=str(corpus(tmp_path, "short text"))).windows()
    with pytest.raises(ConfigError, match="data.seq_len=1"):
        Text(seq_len=1)
    with pytest.raises(ConfigError, match="repeats a character"):
        Text(charset="abca")
    with pytest.raises(ConfigError, match="data.binarize"):
        Text(binarize="static")



def test_characters_outside_the_charset_are_counted_warned_about_and_refused_when_most_are(tmp_path):
    """The share dropped is counted by hand (spaces not counted, after lower-casing): 1 in 20 or fewer passes
    silently, more warns once naming the share and data.charset, more than half is refused."""
    import warnings

    from genzoo.data import Text
    from genzoo.data.text import outside_charset

    assert outside_charset("ab c_ _", "abc") == (2 / 5, ["_"])
    # 'abcd' x 19 + '#': 1 of 77 non-space characters outside (1.3%): no warning
    quiet = (("abcd " * 19) + "#\n") * 20
    # 'ab' + 'x' per word: 1 in 3 outside (33%): a warning; and 'xyz': all of it (100%): refused
    some, most = "abx abx abx abx\n" * 40, "xyz xyz ab\n" * 40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm = Text(path=str(corpus(tmp_path, quiet)), charset="abcd ", seq_len=8, min_letter_share=0, batch_size=2)
        assert "#" not in "".join(dm.texts("train"))
    with pytest.warns(UserWarning) as said:
        dm = Text(path=str(corpus(tmp_path, some)), charset="ab ", seq_len=8, batch_size=2)
        dm.windows()
    assert len(said) == 1 and "33% of the characters" in str(said[0].message)
    assert "data.charset" in str(said[0].message) and "'x'" in str(said[0].message)
    assert set("".join(dm.texts("train"))) == set("ab ")
    with pytest.raises(ConfigError, match=r"75% of the characters of data.path=.*corpus.txt .* outside data.charset "
                                          r"\(most often 'x', 'y', 'z'\): training would see little"):
        Text(path=str(corpus(tmp_path, most)), charset="ab ", seq_len=8, batch_size=2).windows()
    # upper-case letters are not dropped when the text is lower-cased first (the default)
    assert outside_charset("ABC abc".lower(), "abc ")[0] == 0.0

# --- the n-gram metric -----------------------------------------------------------------------------------
def test_ngram_js_against_a_hand_computation():
    from genzoo.metrics.text import js_divergence, ngram_counts, text_metrics

    # unigrams of "ab" (1/2, 1/2) against "aa" (1, 0): m = (3/4, 1/4)
    kl_pm = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    kl_qm = math.log(1 / 0.75)
    assert js_divergence(ngram_counts(["ab"], 1), ngram_counts(["aa"], 1)) == pytest.approx(
        0.5 * (kl_pm + kl_qm) / math.log(2), abs=1e-12)
    # n-grams are counted within each string, never across two
    assert ngram_counts(["ab", "cd"], 2) == {"ab": 1, "cd": 1}
    assert ngram_counts(["abab"], 2) == {"ab": 2, "ba": 1}
    same = text_metrics(["abcd", "bcda"], ["bcda", "abcd"])
    assert all(same[f"ngram/js{n}"] == 0.0 for n in (1, 2, 3, 4)) and same["ngram/unique"] == 1.0
    from genzoo.metrics.text import reference_counts

    assert text_metrics(["abca", "aaab"], reference_counts(["bcda", "abcd"])) == text_metrics(["abca", "aaab"],
                                                                                         ["bcda", "abcd"])
    disjoint = text_metrics(["aaaa"] * 3, ["bbbb"])
    assert all(disjoint[f"ngram/js{n}"] == pytest.approx(1.0) for n in (1, 2, 3, 4))
    assert disjoint["ngram/unique"] == pytest.approx(1 / 3)


def test_ngram_js_orders_real_text_above_shuffled_characters():
    """Held-out text against training text: close at n = 1 for text and for the same characters shuffled
    (same unigram counts), but the shuffled text is far off at n = 4."""
    from genzoo.data import Text
    from genzoo.metrics.text import text_metrics

    dm = Text()
    real, ref = dm.texts("test")[:500], dm.texts("train", 3000)
    g = torch.Generator().manual_seed(0)
    chars = list("".join(real))
    chars = [chars[i] for i in torch.randperm(len(chars), generator=g).tolist()]
    shuffled = ["".join(chars[i : i + 32]) for i in range(0, len(chars), 32)]
    a, b = text_metrics(real, ref), text_metrics(shuffled, ref)
    assert a["ngram/js1"] < 0.01 and b["ngram/js1"] < 0.01
    assert a["ngram/js4"] < 0.5 < b["ngram/js4"]
    assert all(a[f"ngram/js{n}"] < b[f"ngram/js{n}"] for n in (2, 3, 4))


# --- the nets -------------------------------------------------------------------------------------------
def test_resnet1d_shapes_and_softmax_output():
    from genzoo.nets import ResNet1DDiscriminator, ResNet1DGenerator

    g = ResNet1DGenerator((48, 32), z_dim=16, width=24, blocks=5)
    d = ResNet1DDiscriminator((48, 32), width=24, blocks=5, norm="layer")
    x = g(torch.randn(7, 16))
    assert x.shape == (7, 48, 32) and (x >= 0).all()
    assert torch.allclose(x.sum(1), torch.ones(7, 32), atol=1e-6)
    assert d(x).shape == (7,) and d.features(x).shape == (7, d.feature_dim)
    assert len([m for m in g.modules() if isinstance(m, torch.nn.Conv1d)]) == 11  # 5 blocks x 2 + the output
    with pytest.raises(ConfigError, match="net=resnet1d takes sequences"):
        ResNet1DGenerator((1, 16, 16))
    with pytest.raises(ConfigError, match="must be odd"):
        ResNet1DDiscriminator((48, 32), kernel=4)


def test_gradient_penalty_norm_is_per_sample_over_characters_and_positions():
    """A linear critic D(x) = <w, x> has gradient w at every point: the penalty must be (||w|| - 1)^2 with
    the norm over all of (V, L), not a per-position norm."""
    from genzoo.losses import gradient_penalty

    torch.manual_seed(0)
    w = torch.randn(5, 7)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.rand(4, 5, 7), torch.rand(4, 5, 7)
    expected = (w.norm() - 1) ** 2
    assert gradient_penalty(critic, real, fake) == pytest.approx(float(expected), rel=1e-5)
    per_position = ((w.norm(dim=0) - 1) ** 2).mean()  # the known bug: a norm per position
    assert abs(float(expected) - float(per_position)) > 1.0


# --- training through the spine ------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["wgan_gp", "gan"])
def test_text_gan_trains_logs_samples_and_ngram_js(compose_cfg, model):
    import pandas as pd

    cfg = compose_cfg(*FAST, f"model={model}", *TINY, "trainer.max_steps=6", "metrics.every_n_steps=3",
                      "metrics.num_samples=64", "callbacks.sample_grid.every_n_steps=3")
    assert cfg.net.generator._target_ == "genzoo.nets.ResNet1DGenerator" and cfg.metrics.extractor == "ngram"
    out = train(cfg)
    run = Path(cfg.paths.output_dir)
    from genzoo.callbacks import read_text_samples

    lines = read_text_samples(run / "samples" / "last.txt")
    assert len(lines) == 64 and all(len(line) == 8 for line in lines)
    vocab = set(cfg.data.charset)
    assert all(set(line) <= vocab for line in lines)
    assert (run / "samples" / "g0000003.txt").is_file()
    df = pd.read_csv(run / "csv" / "metrics.csv")
    for n in (1, 2, 3, 4):
        col = df[f"ngram/64/js{n}"].dropna()
        assert len(col) == 2 and ((col >= 0) & (col <= 1)).all()
    assert 0 < out["ngram/64/unique"] <= 1


def test_sample_prints_text_and_eval_scores_ngrams(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from genzoo.training import compose_config

    run = tmp_path / "run"
    train(compose_config([*FAST, "model=wgan_gp", *TINY, "trainer.max_steps=2", "metrics.num_samples=32",
                          "metrics.every_n_steps=0"], run))
    GlobalHydra.instance().clear()
    ckpt = run / "checkpoints" / "last.ckpt"
    s = run_in_process("sample.py", f"ckpt_path={ckpt}", "num_samples=5", f"hydra.run.dir={tmp_path / 's'}", cwd=tmp_path)
    assert s.returncode == 0, s.stderr[-2000:]
    printed = [line.strip()[1:-1] for line in s.stdout.splitlines() if line.strip().startswith("|")]
    from genzoo.callbacks import read_text_samples

    assert printed == read_text_samples(tmp_path / "s" / "random.txt")[:5] and all(len(p) == 8 for p in printed)
    assert len(read_text_samples(tmp_path / "s" / "interpolation.txt")) > 0
    e = run_in_process("eval.py", f"ckpt_path={ckpt}", "wandb_mode=disabled", f"hydra.run.dir={tmp_path / 'e'}", cwd=tmp_path)
    assert e.returncode == 0, e.stderr[-2000:]
    assert "ngram/32/js4" in e.stdout


def test_ngram_metrics_need_text_and_text_needs_sequence_nets(compose_cfg):
    from genzoo.errors import GenzooError

    with pytest.raises(GenzooError, match="metrics=ngram .* needs data=text"):
        train(compose_cfg(*FAST, "net.generator.width=8", "net.discriminator.width=8", "metrics=ngram",
                          "trainer.max_steps=1"))
    with pytest.raises(GenzooError, match="net=resnet1d"):
        train(compose_cfg(*FAST, "data=text", "net=dcgan", "trainer.max_steps=1", name="b"))


def test_text_samples_become_a_wandb_table(tmp_path):
    import wandb

    from genzoo.callbacks import save_text
    from genzoo.loggers import WandbLogger
    from wandb_offline import offline_run

    path = save_text(["hello there", "general kenobi"], tmp_path / "s.txt", nrow=1)
    logger = WandbLogger(project="genzoo-test", save_dir=str(tmp_path), offline=True)
    logger.log_text_file("samples", path, 7)
    run_dir = Path(logger.experiment.dir).parent
    wandb.finish()
    summary = offline_run(run_dir)["summary"]
    assert summary[("samples", "_type")] == "table-file"
    assert summary[("samples", "nrows")] == 2 and summary[("samples", "ncols")] == 2
