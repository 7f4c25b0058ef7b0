"""The registry: an explicit enum-keyed dict, and a clear error for unknown channels."""

from __future__ import annotations

import pytest

from adapters import (
    ADAPTERS,
    ChannelName,
    ConfigError,
    HttpAdapter,
    StubAdapter,
    WebhookAdapter,
    get_adapter,
)


def test_every_channel_has_its_adapter() -> None:
    assert {name: type(adapter) for name, adapter in ADAPTERS.items()} == {
        ChannelName.WEBHOOK: WebhookAdapter,
        ChannelName.HTTP: HttpAdapter,
        ChannelName.STUB: StubAdapter,
    }
    assert all(adapter.channel is name for name, adapter in ADAPTERS.items())


@pytest.mark.parametrize("name", ["webhook", "http", "stub"])
def test_get_adapter_by_name(name: str) -> None:
    assert get_adapter(name) is ADAPTERS[ChannelName(name)]


@pytest.mark.parametrize("name", ["fax", "", "WEBHOOK"])
def test_unknown_channels_list_the_available_ones(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_adapter(name)
    assert (err.value.code, err.value.field) == ("UNKNOWN_CHANNEL", "channel")
    assert err.value.message == f"Unknown channel {name!r}; the available channels are webhook, http, stub."


def test_adapters_describe_themselves() -> None:
    for adapter in ADAPTERS.values():
        assert adapter.description and adapter.config_model.model_config["extra"] == "forbid"
