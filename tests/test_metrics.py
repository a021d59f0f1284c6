"""Sample metrics: FID sanity on known data, torchmetrics vs torch-fidelity, the on-disk cache,
offline Inception handling, toy2d mode metrics, and metrics logged during training."""

from pathlib import Path

import pytest
import torch

from conftest import fast, function_family
from genzoo.data import Digits, Toy2DDistribution
from genzoo.errors import ConfigError
from genzoo.metrics import InceptionUnavailable, SampleMetrics, build_extractor, frechet_distance, toy2d_metrics
from genzoo.metrics.extractors import TorchFidelityInception
from genzoo.training import train


@pytest.fixture(scope="module")
def digits_and_classifier(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    dm = Digits(size=16)
    dm.setup()
    return dm, build_extractor("classifier", dm, cache), cache


def features(ext, x):
    with torch.no_grad():
        return ext(x)


def test_classifier_is_accurate_and_cached(digits_and_classifier, monkeypatch):
    dm, ext, cache = digits_and_classifier
    assert ext.accuracy > 0.9
    import genzoo.metrics.extractors as ex

    monkeypatch.setattr(ex, "train_classifier", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = build_extractor("classifier", dm, cache)  # loads the cached file, does not train
    assert torch.equal(again.classifier.head.weight, ext.classifier.head.weight)


def test_fid_of_a_set_with_itself_is_zero_halves_are_close_noise_is_far(digits_and_classifier):
    dm, ext, _ = digits_and_classifier
    x = dm.sample_real(1797)
    f = features(ext, x)
    assert abs(frechet_distance(f, f)) < 1e-6
    halves = frechet_distance(f[:898], f[898:])
    noise = frechet_distance(f[:898], features(ext, torch.rand(898, 1, 16, 16) * 2 - 1))
    assert halves < 0.05 * noise


def test_torchmetrics_and_torch_fidelity_agree(digits_and_classifier):
    from torchmetrics.image.fid import FrechetInceptionDistance

    dm, ext, _ = digits_and_classifier
    x = dm.sample_real(1000)
    fake = (x.flip(-1) * 0.8).clamp(-1, 1)  # a different, nearby distribution
    tm = FrechetInceptionDistance(feature=ext, input_img_size=(1, 16, 16))
    tm.update(x, real=True)
    tm.update(fake, real=False)
    fid_tm = float(tm.compute())
    fid_tf = frechet_distance(features(ext, fake), features(ext, x))
    assert fid_tf > 1 and abs(fid_tm - fid_tf) / fid_tf < 1e-3


def test_real_statistics_are_computed_once_then_read_from_cache(digits_and_classifier, tmp_path):
    dm, ext, _ = digits_and_classifier
    first = SampleMetrics(ext, dm, tmp_path, num_samples=200)
    noise = function_family(lambda n: torch.rand(n, 1, 16, 16) * 2 - 1)
    out = first.compute(noise)
    assert first.computed_real and first.cache_path().is_file()
    assert set(out) == {"fid/classifier/200/train", "kid/classifier/200/train", "is/classifier/200",
                        "precision/classifier/200/train", "recall/classifier/200/train", "effective_classes/classifier/200"}
    second = SampleMetrics(ext, dm, tmp_path, num_samples=200)
    second.compute(noise)
    assert not second.computed_real
    # real digits score far better than noise, and their IS is close to the 10 classes
    real = SampleMetrics(ext, dm, tmp_path, num_samples=1000).compute(function_family(lambda n: dm.sample_real(n)))
    assert real["fid/classifier/1k/train"] < 0.05 * out["fid/classifier/200/train"]
    assert real["is/classifier/1k"] > 7
    assert real["effective_classes/classifier/1k"] > 9.5  # real digits: ~ all 10 classes, equally often
    # noise lies off the data manifold (precision ~ 0); real digits lie on it
    assert out["precision/classifier/200/train"] < 0.1 < 0.9 < real["precision/classifier/1k/train"]


def test_missing_inception_weights_file_names_the_key_to_set(tmp_path):
    with pytest.raises(InceptionUnavailable, match="metrics.inception_weights"):
        TorchFidelityInception(str(tmp_path / "missing.pth"))


def test_run_without_inception_weights_warns_and_trains_but_require_fails_at_start(compose_cfg, tmp_path):
    common = fast("metrics=inception", f"metrics.inception_weights={tmp_path}/missing.pth", "trainer.max_steps=2")
    with pytest.warns(UserWarning, match="goes on without inception metrics"):
        m = train(compose_cfg(*common, name="warn"))
    assert m["model_step"] == 2
    cfg = compose_cfg(*common, "metrics.require=true", name="require")
    with pytest.raises(ConfigError, match="metrics.require=true"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # failed before training


def test_effective_classes_is_exp_entropy_of_the_assigned_classes_by_hand():
    from genzoo.metrics.sample_quality import effective_classes

    def logits_for(classes, k=10):
        return torch.nn.functional.one_hot(torch.tensor(classes), k).float() * 5 + torch.randn(len(classes), k) * 0.1

    assert effective_classes(logits_for([3] * 50)) == pytest.approx(1.0)                    # full collapse
    assert effective_classes(logits_for([0, 0, 1, 1])) == pytest.approx(2.0)
    assert effective_classes(logits_for(list(range(10)) * 7)) == pytest.approx(10.0)         # uniform over 10
    p = torch.tensor([0.75, 0.25])                                                           # 3:1 -> exp(H)
    assert effective_classes(logits_for([5, 5, 5, 8])) == pytest.approx(float(torch.exp(-(p * p.log()).sum())))


def test_digit_samples_of_one_class_show_the_collapse(digits_and_classifier, tmp_path):
    dm, ext, _ = digits_and_classifier
    x = dm.sample_real(2000)
    real = SampleMetrics(ext, dm, tmp_path, num_samples=500).compute(function_family(lambda n: dm.sample_real(n)))
    sevens = x[ext.logits(x).argmax(1) == 7]
    one_class = SampleMetrics(ext, dm, tmp_path, num_samples=500).compute(
        function_family(lambda n: sevens[torch.arange(n) % len(sevens)]))
    assert real["effective_classes/classifier/500"] > 9 and one_class["effective_classes/classifier/500"] < 1.5


def test_toy2d_mode_metrics():
    dist = Toy2DDistribution("ring")
    good, _ = dist.sample(2000, torch.Generator().manual_seed(0))
    m = toy2d_metrics(good, dist)  # within 3 std in 2-D: P = 1 - exp(-4.5) = 0.989
    assert m["toy2d/modes_covered"] == 8 and m["toy2d/high_quality"] > 0.97 and m["toy2d/mode_kl"] < 0.05
    collapsed = dist.centers[3] + 0.02 * torch.randn(2000, 2)
    m = toy2d_metrics(collapsed, dist)
    assert m["toy2d/modes_covered"] == 1 and m["toy2d/mode_kl"] > 2
    assert toy2d_metrics(good, dist)["toy2d/log_density"] > toy2d_metrics(good * 1.5, dist)["toy2d/log_density"]


def test_default_run_logs_classifier_metrics_to_csv(compose_cfg, tmp_path):
    cfg = compose_cfg(*fast("trainer.max_steps=4", "metrics.every_n_steps=2", "metrics.num_samples=200",
                            f"metrics.cache_dir={tmp_path}/cache"))
    m = train(cfg)
    assert "fid/classifier/200/train" in m and "is/classifier/200" in m
    rows = (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    col, g = header.index("fid/classifier/200/train"), header.index("model_step")
    logged = [(float(r.split(",")[g]), r.split(",")[col]) for r in rows[1:] if r.split(",")[col]]
    assert [s for s, _ in logged] == [2.0, 4.0]  # at the cadence and at the end, against generator steps
    assert (Path(cfg.paths.output_dir) / "plots" / "metrics.png").is_file()


def test_metrics_do_not_change_training(compose_cfg, tmp_path):
    """Evaluation draws its noise under fork_rng: a run with metrics trains the same weights as one without."""
    a = compose_cfg(*fast("trainer.max_steps=4", f"metrics.cache_dir={tmp_path}/cache", "metrics.num_samples=100",
                          "metrics.every_n_steps=2"), name="with")
    b = compose_cfg(*fast("trainer.max_steps=4", "metrics=none"), name="without")
    train(a), train(b)
    wa = torch.load(Path(a.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    wb = torch.load(Path(b.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) if torch.is_tensor(wa[k]) else wa[k] == wb[k] for k in wa)


def test_conditional_accuracy_on_known_samplers(digits_and_classifier):
    """A 'generator' that returns real digits of the class asked for scores the classifier's accuracy;
    one that ignores the class scores chance (0.1)."""
    dm, ext, cache = digits_and_classifier
    x, y = dm.sample_real(1797, with_labels=True)
    by_class = {k: x[y == k] for k in range(10)}
    cursor = {k: 0 for k in range(10)}

    def faithful(y=None):
        out = []
        for k in y.tolist():
            out.append(by_class[k][cursor[k] % len(by_class[k])])
            cursor[k] += 1
        return torch.stack(out)

    g = torch.Generator().manual_seed(0)
    metrics = SampleMetrics(ext, dm, cache, num_samples=1000)
    key = "conditional_accuracy/classifier/1k"
    assert metrics.compute(function_family(faithful, num_classes=10))[key] > 0.95
    ignoring = metrics.compute(function_family(lambda y=None: x[torch.randint(len(x), (len(y),), generator=g)],
                                               num_classes=10))[key]
    assert 0.05 < ignoring < 0.15


def test_toy2d_conditional_accuracy_counts_samples_at_the_mode_asked_for():
    dist = Toy2DDistribution("ring")
    labels = torch.arange(800) % 8
    at_mode = dist.centers[labels] + 0.02 * torch.randn(800, 2)
    assert toy2d_metrics(at_mode, dist, labels=labels)["toy2d/conditional_accuracy"] > 0.97
    shifted = dist.centers[(labels + 1) % 8] + 0.02 * torch.randn(800, 2)  # right quality, wrong modes
    m = toy2d_metrics(shifted, dist, labels=labels)
    assert m["toy2d/conditional_accuracy"] == 0 and m["toy2d/high_quality"] > 0.97


def test_split_chooses_the_real_images_the_features_come_from(digits_and_classifier, tmp_path):
    """metrics.split=test reads the held-out images, split=train the training ones: different real
    features (and cache files) on the same extractor, each equal to that split's own images'."""
    from genzoo.metrics.sample_quality import extract

    dm, ext, _ = digits_and_classifier
    on = {s: SampleMetrics(ext, dm, tmp_path, num_samples=100, split=s) for s in ("train", "test")}
    feats = {s: m.real_features() for s, m in on.items()}
    assert len(feats["train"]) == len(dm.dataset("train")) and len(feats["test"]) == len(dm.dataset("test"))
    assert len(feats["train"]) != len(feats["test"]) and on["train"].cache_path() != on["test"].cache_path()
    expected, _ = extract(ext, dm.sample_real(len(dm.dataset("test")), split="test"))
    assert torch.allclose(feats["test"], expected)
    sampler = function_family(lambda n: dm.sample_real(n, split="test"))
    fid = {s: m.compute(sampler)[f"fid/classifier/100/{s}"] for s, m in on.items()}
    assert fid["train"] != fid["test"]
    with pytest.raises(ConfigError, match="metrics.split='valid' is not a split"):
        SampleMetrics(ext, dm, tmp_path, num_samples=100, split="valid")
