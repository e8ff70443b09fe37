"""Settings are described by their dataclass comments and checked once, at conversion time."""

import re
from dataclasses import dataclass, field

import pytest

from fastrlap.config import Config, check_config
from fastrlap.errors import ConfigError
from fastrlap.settings import check_overrides, field_docs, leaves, settings_table


@dataclass
class Sample:
    """A docstring is not a field's meaning."""

    plain: int = 1  # px, the trailing comment
    # A block above a field without a comment of its own
    # explains it when nothing is on its line.
    above: str = "a # not a comment"
    both: float = 2.0  # the line's own comment wins over the block above

    inner: list[str] = field(default_factory=lambda: ["#", "x"])  # a list
    bare: bool = False

    def method(self) -> int:
        local: int = 3  # not a field
        return local


def test_field_docs_read_the_line_comment_else_the_block_above():
    docs = field_docs(Sample)
    assert docs["plain"] == "px, the trailing comment"
    assert docs["above"] == (
        "A block above a field without a comment of its own explains it when nothing is on its line."
    )
    assert docs["both"] == "the line's own comment wins over the block above"
    assert docs["inner"] == "a list"
    assert "bare" not in docs and "local" not in docs


def test_every_setting_has_a_one_line_meaning():
    missing = [s.key for s in leaves(Config()) if not s.doc]
    assert not missing, f"give these fields a comment in fastrlap/config.py: {missing}"


def test_the_table_shows_key_value_and_meaning_for_the_chosen_groups():
    table = settings_table(Config(), ("practice", "seed"))
    lines = table.splitlines()
    assert any(line.split()[:2] == ["practice.minutes", "20.0"] and "simulated minutes" in line for line in lines)
    assert any(line.split()[:2] == ["seed", "0"] for line in lines)
    assert not any("agent." in line for line in lines)


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("practice.minutes", -1.0, "at least 0"),
        ("agent.num_qs", 0, "at least 1"),
        ("agent.batch_size", 0, "at least 1"),
        ("agent.gamma", 1.0, "below 1"),
        ("laps", 0, "at least 1"),
        ("seed", -3, "at least 0"),
        ("practice.minutes", float("nan"), "finite"),
        ("wandb.mode", "onlin", "offline, online, disabled"),
    ],
)
def test_out_of_range_values_are_one_line_naming_the_setting(key, value, says):
    cfg = Config()
    section, _, name = key.rpartition(".")
    setattr(cfg if not section else getattr(cfg, section), name, value)
    with pytest.raises(ConfigError, match=says) as err:
        check_config(cfg)
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)


def test_settings_that_must_agree_are_checked_together():
    cfg = Config()
    cfg.agent.num_qs, cfg.agent.num_min_qs = 2, 3
    with pytest.raises(ConfigError, match="agent.num_min_qs=3 is more than agent.num_qs=2"):
        check_config(cfg)


def test_the_policy_may_not_steer_beyond_the_cars_full_lock():
    cfg = Config()
    cfg.vehicle.max_steer, cfg.vehicle.real.steer_full_lock = 0.5, 0.45
    check_config(cfg)  # the simulator steers with max_steer alone
    for kind in ("real", "hil"):
        cfg.vehicle.kind = kind
        with pytest.raises(ConfigError, match="vehicle.max_steer=0.5 is more than vehicle.real.steer_full_lock=0.45"):
            check_config(cfg)
    cfg.vehicle.max_steer = 0.3  # a gentler policy on a car that can steer further is fine
    check_config(cfg)


def test_the_defaults_pass():
    check_config(Config())


@pytest.mark.parametrize(
    "override, says",
    [
        ("practice.minuts=2", "did you mean practice.minutes?"),
        ("agent.numqs=2", "did you mean agent.num_qs?"),
        ("practice.minutes=abc", "practice.minutes takes a number, not abc"),
        ("agent.num_qs=2.5", "agent.num_qs takes a whole number, not 2.5"),
        ("practice.dashboard=3", "takes a true/false value"),
        ("compare=runs/A", "compare takes a list like [a,b] of strings, not runs/A"),
        ("track=null", "track takes a string, not null"),
        ("+foo=1", "no setting is called foo"),
        ("+seed=1", "drop the '+': seed=1"),
        ("~seed", "cannot be deleted"),
        ("seed=1,2", "one value per setting"),
        ("vehicle=rael", "choose one of hil, real, sim"),
        ("practice=3", "practice is a group of settings"),
    ],
)
def test_bad_overrides_are_refused_with_the_fix(override, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        check_overrides([override], Config, {"vehicle": ["hil", "real", "sim"]})


def test_good_overrides_pass():
    check_overrides(
        [
            "practice.minutes=2",
            "track=hairpin",
            "run_dir=null",
            "compare=[a,b]",
            "vehicle=real",
            "vehicle.real.imu_axes=[x,-y,z]",
            "agent.lr=1e-3",
            "practice.minutes=3",
        ],
        Config,
        {"vehicle": ["hil", "real", "sim"]},
    )


def test_a_run_config_written_before_the_rate_limits_were_renamed_still_loads(tmp_path):
    from fastrlap.practice.run import load_run_config, open_run_dir, save_config

    run = open_run_dir(tmp_path / "20250101-120000-oval", create=True)
    save_config(run, Config())
    text = run.config.read_text()
    assert "action_rate_per_tick: 0.2" in text and "steer_rate_rad_s: 4.0" in text
    run.config.write_text(
        text.replace("action_rate_per_tick: 0.2", "action_rate_limit: 0.15").replace(
            "steer_rate_rad_s: 4.0", "steer_rate: 3.0"
        )
    )
    cfg = load_run_config(run)
    assert cfg.agent.action_rate_per_tick == 0.15 and cfg.practice.safety.steer_rate_rad_s == 3.0
