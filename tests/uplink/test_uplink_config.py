"""``[uplink]``: its fields checked together when parsed, its files when enabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.config.check import check_config, check_uplink
from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config, parse_config
from tests.supervisor.config.uplink_files import Raw, good_uplink, uplink_toml
from uplink import pki
from uplink.config import UplinkConfig, file_problems


def _problems(text: str) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "p.toml")
    return [(p.key, p.detail) for p in info.value.problems]


def test_a_disabled_uplink_needs_no_identity_and_reads_no_file() -> None:
    config = parse_config("[uplink]\nenabled = false\n").uplink
    assert config == UplinkConfig()
    check_uplink(config)  # the default files do not exist: not read while disabled


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("", "must be a host name or an IP address, not empty"),
        (
            "mqtt://broker",
            "must be a host name, not a URL: 'mqtt://broker' (the port goes in broker_port)",
        ),
        (
            "broker:8883",
            "must be a host name or an IP address, not 'broker:8883' (the port goes in broker_port)",
        ),
        ("bro ker", "'bro ker' is not a valid host name (letters, digits, '-' and '.')"),
        ("-broker", "'-broker' is not a valid host name (letters, digits, '-' and '.')"),
        ("a..b", "'a..b' is not a valid host name (letters, digits, '-' and '.')"),
        ("300.1.1.1", "'300.1.1.1' is not a valid IPv4 address"),
    ],
)
def test_a_bad_broker_address_is_refused(host: str, problem: str) -> None:
    assert _problems(f"[uplink]\nbroker_host = {host!r}\n") == [("uplink.broker_host", problem)]


@pytest.mark.parametrize(
    "host", ["localhost", "mqtt.fleet.example.com", "mqtt.example.", "127.0.0.1", "::1"]
)
def test_good_broker_addresses(host: str) -> None:
    assert parse_config(f"[uplink]\nbroker_host = {host!r}\n").uplink.broker_host == host


def test_an_enabled_uplink_needs_its_identity() -> None:
    assert _problems("[uplink]\nenabled = true\n") == [
        ("uplink.node_id", "is required when enabled = true"),
        ("uplink.dispatcher_public_key", "is required when enabled = true"),
    ]
    assert _problems("[uplink]\nnode_id = 'a/b'\ndispatcher_public_key = 'zz'\n") == [
        (
            "uplink.node_id",
            "node id 'a/b' must be 1-64 characters without / # + space, and not 'dispatcher'",
        ),
        (
            "uplink.dispatcher_public_key",
            "dispatcher key: 'zz' is not 64 hex digits of an Ed25519 key",
        ),
    ]


def test_timings_that_contradict_each_other() -> None:
    text = "[uplink]\nreconnect_min_s = 5\nreconnect_max_s = 1\nsession_expiry_s = 10\nwill_delay_s = 60\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "p.toml")
    assert str(info.value).splitlines() == [
        "p.toml:3: [uplink] uplink.reconnect_max_s: must not be below reconnect_min_s (5), not 1",
        "p.toml:5: [uplink] uplink.will_delay_s: must not be above session_expiry_s (10), not 60",
    ]


@pytest.mark.parametrize(
    ("key", "value", "detail"),
    [
        ("broker_port", 0, "must be at least 1, not 0"),
        ("broker_port", 65536, "must be at most 65535, not 65536"),
        ("keepalive_s", Raw("nan"), "must be an integer, not the number nan"),
        ("result_ttl_s", Raw("inf"), "must be a finite number, not inf"),
        ("result_ttl_s", 1e12, "must be at most 604800.0, not 1000000000000.0"),
        ("answer_ttl_s", Raw("-inf"), "must be a finite number, not -inf"),
        (
            "topic_prefix",
            "fleet/#",
            "topic prefix 'fleet/#' must be non-empty, without #, + or a trailing /",
        ),
    ],
)
def test_bad_values(key: str, value: object, detail: str) -> None:
    assert _problems(uplink_toml({key: value})) == [(f"uplink.{key}", detail)]


def test_real_files_pass(tmp_path: Path) -> None:
    config = parse_config(uplink_toml(good_uplink(tmp_path))).uplink
    assert file_problems(config) == []
    check_uplink(config)


def _file_problems(tmp_path: Path, **change: object) -> list[tuple[str, str]]:
    path = tmp_path / "parkmesh.toml"
    path.write_text(uplink_toml({**good_uplink(tmp_path), **change}))
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        check_config(config, path)
    for problem in info.value.problems:
        assert str(problem).startswith(f"{path}:{problem.line}: [uplink] uplink.")
    return [(p.key or "", p.detail) for p in info.value.problems]


def test_missing_and_unreadable_tls_files(tmp_path: Path) -> None:
    assert _file_problems(tmp_path, key_file=str(tmp_path / "gone.key")) == [
        ("uplink.key_file", f"{tmp_path / 'gone.key'} does not exist")
    ]
    assert _file_problems(tmp_path, ca_file=str(tmp_path)) == [
        ("uplink.ca_file", f"{tmp_path} is not a file")
    ]


def test_files_that_are_not_what_they_should_be(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN NOTHING-----\n")
    other = pki.issue(pki.make_ca(tmp_path / "other"), tmp_path / "other", "car2")
    assert _file_problems(tmp_path, ca_file=str(junk), key_file=str(junk)) == [
        ("uplink.ca_file", "is not a PEM certificate"),
        ("uplink.key_file", "is not a PEM private key"),
    ]
    assert _file_problems(tmp_path, key_file=str(other.key)) == [
        ("uplink.key_file", "is not the private key of cert_file")
    ]
    # The certificate where the key should be, and the key where the CA should be.
    good = good_uplink(tmp_path / "again")
    assert _file_problems(tmp_path, ca_file=good["key_file"], key_file=good["cert_file"]) == [
        ("uplink.ca_file", "is not a PEM certificate"),
        ("uplink.key_file", "is not a PEM private key"),
    ]


def test_keys_and_state_the_uplink_creates(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"\x01" * 16)
    assert _file_problems(tmp_path, signing_key_file=str(short)) == [
        ("uplink.signing_key_file", f"key file {short} has 16 bytes; a raw key has 32")
    ]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _file_problems(tmp_path, state_file=str(blocker / "uplink.sqlite3")) == [
        ("uplink.state_file", f"cannot be created: {blocker} is not a folder")
    ]
    assert _file_problems(tmp_path, state_file=str(tmp_path)) == [
        ("uplink.state_file", f"{tmp_path} is not a file")
    ]
