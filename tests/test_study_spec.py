"""Study specification: grid expansion, the paper's names, strict keys, run identity, presets."""

from __future__ import annotations

import math

import pytest

from weightspace.errors import ConfigError
from weightspace.store import parse_run_dir_name
from weightspace.study import StudySpec, expand, preset_names
from weightspace.study.conditions import combination_condition, expand_conditions
from weightspace.train.modalities import MODALITIES

# The 21 condition names of the paper's published tables, in its order.
PAPER_NAMES = [
    "bs",
    "dp0.1",
    "dp0.3",
    "dp0.5",
    "dp0.7",
    "wd1e-05",
    "wd5e-05",
    "wd0.0001",
    "wd0.0005",
    "wd0.001",
    "wd0.005",
    "divAuto",
    "divRand",
    "divAugM",
    "divTrAu",
    "divNoize10",
    "divNoize30",
    "divNoize50",
    "divAuto1",
    "divAuto2",
    "divAuto3",
]

FULL_EXAMPLE = """
[study]
name = "demo"
seeds = [0, 1, 2]

[data]
dataset = "fashion-mnist"
train_size = 600
test_size = 300

[model]
name = "mlp"

[train]
epochs = 2
lr = 1e-3
batch_size = 64

[conditions]
baseline = true
dropout = [0.1, 0.5]
weight_decay = [1e-4]
augment = ["noise10", {name = "divFlip", ops = [{op = "hflip", p = 0.5}]}]
combinations = [{augment = "auto", dropout = 0.3}, {dropout = 0.1, weight_decay = 1e-3}]
"""


@pytest.mark.parametrize("preset", ["finetune", "scratch", "paper", "paper-finetune"])
def test_presets_expand_to_the_21_paper_conditions(preset):
    spec = StudySpec.from_preset(preset)
    names = [c.name for c in spec.condition_list()]
    assert names == PAPER_NAMES
    plans = expand(spec)
    seeds = spec.condition_seeds()
    assert len(plans) == sum(len(v) for v in seeds.values())
    assert list(dict.fromkeys(p.condition for p in plans)) == PAPER_NAMES
    assert seeds["bs"] == spec.seeds  # the baseline runs at every seed
    if spec.seeds_per_condition is None:
        assert len(plans) == 21 * len(spec.seeds)


def test_seeds_per_condition_rotates_over_the_baselines_seeds():
    spec = StudySpec.from_dict(
        {"study": {"seeds": [0, 1, 2, 3, 4, 5], "seeds_per_condition": 2},
         "conditions": {"baseline": True, "dropout": [0.1, 0.3, 0.5]}}
    )  # fmt: skip
    assert spec.condition_seeds() == {"bs": (0, 1, 2, 3, 4, 5), "dp0.1": (0, 1),
                                      "dp0.3": (1, 2), "dp0.5": (2, 3)}  # fmt: skip
    import tomllib

    assert StudySpec.from_dict(tomllib.loads(spec.to_toml())) == spec  # written and read back
    with pytest.raises(ConfigError, match="seeds_per_condition"):
        StudySpec.from_dict({"study": {"seeds": [0, 1], "seeds_per_condition": 3}})
    with pytest.raises(ConfigError, match="diversity"):
        StudySpec.from_dict({"study": {"diversity": 3}})


def test_scratch_preset_is_42_cpu_runs_of_cnn_small_on_fashion_mnist():
    plans = expand(StudySpec.from_preset("scratch"))
    assert len(plans) == 42
    cfg = plans[0].config
    assert (cfg.dataset, cfg.model, cfg.device, cfg.optimizer) == (
        "fashion-mnist",
        "cnn-small",
        "cpu",
        "adam",
    )
    assert sorted({p.seed for p in plans}) == [0, 1]


def test_paper_presets_follow_the_paper_settings():
    paper = expand(StudySpec.from_preset("paper"))[0].config
    assert (paper.dataset, paper.model, paper.epochs, paper.batch_size) == (
        "cifar10",
        "resnet18",
        5,
        32,
    )
    assert paper.device == "cuda"
    finetune = expand(StudySpec.from_preset("paper-finetune"))[0].config
    assert finetune.lr == 1e-5 and finetune.pretrained
    assert set(preset_names()) == {
        "finetune",
        "scratch",
        "paper",
        "paper-finetune",
        "synthetic",
        "sharpness",
        "text",
        "text-quick",
    }


def test_categories_strengths_and_overrides():
    conds = {c.name: c for c in StudySpec.from_preset("quick").condition_list()}
    assert conds["bs"].category == "bs" and math.isnan(conds["bs"].strength)
    assert conds["bs"].overrides == {}
    assert (conds["dp0.3"].category, conds["dp0.3"].strength) == ("dp", 0.3)
    assert conds["dp0.3"].overrides == {"dropout": 0.3}
    assert (conds["wd5e-05"].category, conds["wd5e-05"].strength) == ("wd", 5e-5)
    assert conds["wd5e-05"].overrides == {"weight_decay": 5e-5}
    assert conds["divNoize30"].strength == 0.03  # the noise σ on [0, 1] pixels
    assert math.isnan(conds["divAuto2"].strength)  # composite policy: no single dose
    assert conds["divAugM"].overrides == {"augment": "augmix"}


def test_a_condition_name_stands_for_its_policy_in_the_data_package():
    from weightspace.data.augment import normalize_spec
    from weightspace.vocabulary import AUGMENT_CONDITIONS

    conds = {c.name: c for c in StudySpec.from_preset("finetune").condition_list()}
    for policy, name in AUGMENT_CONDITIONS.items():
        assert conds[name].overrides == {"augment": policy}
        assert normalize_spec(name) == normalize_spec(policy)


def test_combinations_custom_policies_and_the_full_example(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(FULL_EXAMPLE)
    spec = StudySpec.from_toml(path)
    names = [c.name for c in spec.condition_list()]
    assert names == [
        "bs",
        "dp0.1",
        "dp0.5",
        "wd0.0001",
        "divNoize10",
        "divFlip",
        "divAuto+dp0.3",
        "dp0.1+wd0.001",
    ]
    plans = expand(spec)
    assert len(plans) == 8 * 3
    combo = next(p for p in plans if p.condition == "divAuto+dp0.3")
    assert combo.category == "combo"
    assert (combo.config.augment, combo.config.dropout) == ("auto", 0.3)
    flip = next(p for p in plans if p.condition == "divFlip")
    assert flip.config.augment == ({"op": "hflip", "p": 0.5},)
    # order of the keys does not change the name
    combo = combination_condition({"dropout": 0.3, "augment": "auto"}, MODALITIES["image"])
    assert combo.name == "divAuto+dp0.3"


def test_toml_round_trip(tmp_path):
    for name in preset_names():
        spec = StudySpec.from_preset(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(spec.to_toml())
        assert StudySpec.from_toml(path) == spec
    path = tmp_path / "demo.toml"
    path.write_text(FULL_EXAMPLE)
    spec = StudySpec.from_toml(path)
    path.write_text(spec.to_toml())
    assert StudySpec.from_toml(path) == spec


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[trian]\nepochs = 1", "'trian' (did you mean 'train'?)"),
        ("[train]\nepoch = 1", "'epoch' (did you mean 'epochs'?)"),
        ("[model]\nwidht = 2", "'widht' (did you mean 'width'?)"),
        ("[study]\nseed = [0]", "'seed' (did you mean 'seeds'?)"),
        ("[conditions]\ndropuot = [0.1]", "'dropuot' (did you mean 'dropout'?)"),
        ("[conditions]\ncombinations = [{augment = 'auto', dropuot = 0.3}]", "'dropuot'"),
        ("[conditions]\naugment = ['autoo']", "did you mean 'auto'?"),
        ("[conditions]\ndropout = [1.5]", "dropout rate must be in (0, 1)"),
        ("[conditions]\nweight_decay = [0]", "weight decay must be > 0"),
        ("[conditions]\ndropout = 0.1", "must be a list"),
        ("[conditions]\ncombinations = [{dropout = 0.1}]", "at least two"),
        ("[conditions]\nbaseline = false", "no condition"),
        ("[study]\nseeds = [0, 0]", "must not repeat"),
        ("[study]\nseeds = [-1]", "seeds must be an integer >= 0"),
    ],
)
def test_strict_keys_and_values(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        StudySpec.from_toml(path)
    assert fragment in str(err.value)


def test_unknown_key_lists_valid_keys(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nlearning_rate = 0.1")
    with pytest.raises(ConfigError, match=r"valid keys: .*batch_size.*epochs.*lr"):
        StudySpec.from_toml(path)


def test_bad_run_field_value_is_reported_at_expansion():
    spec = StudySpec(train={"optimizer": "adamm"})
    with pytest.raises(ConfigError, match=r"condition 'bs', seed 0: .*did you mean 'adam'"):
        expand(spec)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="did you mean 'scratch'"):
        StudySpec.from_preset("scrach")


def test_run_identity_is_stable_and_tracks_the_config():
    spec = StudySpec.from_preset("quick")
    a, b = expand(spec), expand(StudySpec.from_preset("quick"))
    assert [p.run_id for p in a] == [p.run_id for p in b]
    assert len({p.run_id for p in a}) == len(a)
    assert all(p.run_id == p.config.run_id() for p in a)
    p = a[3]
    assert p.dir_name == f"{p.condition}__s{p.seed}__{p.run_id}"
    assert parse_run_dir_name(p.dir_name) == (p.condition, p.seed, p.run_id)
    # what changes a result changes the identity; the thread count does not
    changed = expand(spec.with_overrides(lr=3e-4))
    assert not {q.run_id for q in changed} & {q.run_id for q in a}
    assert a[0].config.replace(threads=2).run_id() == a[0].run_id
    # seeds override: the shared seed keeps its runs
    only0 = expand(spec.with_overrides(seeds=(0,)))
    assert {q.run_id for q in only0} == {q.run_id for q in a if q.seed == 0}


def test_with_overrides_puts_fields_in_their_section():
    spec = StudySpec.from_preset("quick").with_overrides(
        model="mlp", train_size=300, device="cuda", epochs=1
    )
    assert spec.model["name"] == "mlp" and spec.data["train_size"] == 300
    assert spec.train["device"] == "cuda" and spec.train["epochs"] == 1
    with pytest.raises(ConfigError, match="unknown study override 'colour'"):
        spec.with_overrides(colour="red")


def test_synthetic_conditions_come_from_the_synthetic_stage():
    conds = expand_conditions(
        {"baseline": True, "synthetic": {"mode": "replace", "fractions": [0.1, 0.5]}},
        modality=MODALITIES["image"],
    )
    assert [c.name for c in conds] == ["bs", "gen0.1", "gen0.5"]
    assert conds[1].category == "gen" and conds[1].strength == 0.1
    assert conds[1].overrides["synthetic"]["fraction"] == 0.1
    with pytest.raises(ConfigError, match="fractions"):
        expand_conditions({"synthetic": {"fractions": []}}, modality=MODALITIES["image"])


def test_synthetic_preset_expands_gen_conditions_next_to_references():
    spec = StudySpec.from_preset("synthetic")
    conds = {c.name: c for c in spec.condition_list()}
    gen = [n for n, c in conds.items() if c.category == "gen"]
    assert gen == ["gen0.3", "gen0.5", "gen1.0", "gen0.3_add", "gen0.5_add", "gen1.0_add"]
    assert {c.category for c in conds.values()} == {"bs", "dp", "wd", "div", "gen"}
    assert conds["gen0.5_add"].overrides["synthetic"]["mode"] == "add"
    assert conds["gen1.0"].strength == 1.0
    assert len(expand(spec)) == 2 * len(conds)
