"""The DBus API served by `ApiService` on a private dbus-daemon, from the fake facade."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from jeepney import DBusAddress, HeaderFields, MatchRule, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.trio import open_dbus_router
from parkmesh_fake_daemon import FakeFacade

from supervisor.api import client, names
from supervisor.api.service import ApiService, ApiUnavailable
from supervisor.api.spec import interface_xml, interfaces, parse_interfaces

OBJ = DBusAddress(names.OBJECT_PATH, bus_name=names.BUS_NAME, interface=names.INTERFACE)
PROPS = OBJ.with_interface(names.PROPERTIES_INTERFACE)

# Valid arguments for every method of org.parkmesh.Supervisor1.
VALID_ARGS: dict[str, tuple[Any, ...]] = {
    "SetPreference": ("charge_floor_percent", "55"),
    "AddCurtailment": ('{"max_power_w": 300}',),
    "GetLog": (10,),
    "LedgerStatement": ("2026-11",),
    "LedgerYear": (2026,),
    "LedgerRecent": (3,),
    "Pause": (0.0,),
    "RestartWorker": ("minilm-l6",),
}


async def raw(
    bus: str,
    address: DBusAddress,
    member: str,
    signature: str | None = None,
    body: tuple[Any, ...] = (),
) -> Any:
    """Send one call with exactly this signature and return the reply message."""
    async with open_dbus_router(bus) as router:
        with trio.fail_after(5):
            return await router.send_and_get_reply(
                new_method_call(address, member, signature, body)
            )


def error_of(reply: Any) -> tuple[str, str]:
    assert reply.header.message_type == MessageType.error
    return reply.header.fields[HeaderFields.error_name], reply.body[0]


async def test_introspection_is_the_xml_in_the_repo(bus_address: str, service: ApiService):
    reply = await raw(bus_address, OBJ.with_interface(names.INTROSPECTABLE_INTERFACE), "Introspect")
    assert reply.body[0] == interface_xml()
    served = parse_interfaces(reply.body[0])[names.INTERFACE]
    assert set(served.methods) >= {
        "Drain",
        "Resume",
        "Pause",
        "Unpause",
        "TestStop",
        "Explain",
        "GetPreferences",
        "SetPreference",
        "GetBudget",
        "AddCurtailment",
    }
    assert set(served.signals) == {"StateChanged", "Stopped", "JobFinished"}


async def test_properties_have_the_declared_types(
    bus_address: str, service: ApiService, facade: FakeFacade
):
    reply = await raw(bus_address, PROPS, "GetAll", "s", (names.INTERFACE,))
    declared = interfaces()[names.INTERFACE].properties
    values = reply.body[0]
    assert {k: v[0] for k, v in values.items()} == declared
    assert values["Phase"] == ("s", "serving")
    assert values["NodeKind"] == ("s", "car")
    assert values["NodeSource"] == ("s", "CAN can0 (Model3CAN.dbc)")
    assert values["StateOfCharge"] == ("d", 72.0)
    assert values["LastStopMs"] == ("d", 4.2)
    vehicle = json.loads(values["VehicleJson"][1])
    stale = [s["path"] for s in vehicle if s["stale"]]
    assert stale == ["Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus"]


async def test_every_method_answers_with_the_declared_signature(
    bus_address: str, service: ApiService
):
    for name, method in interfaces()[names.INTERFACE].methods.items():
        args = VALID_ARGS.get(name, ())
        reply = await raw(bus_address, OBJ, name, method.in_signature or None, args)
        assert reply.header.message_type == MessageType.method_return, (name, reply.body)
        assert reply.header.fields.get(HeaderFields.signature, "") == method.out_signature, name


async def test_actions_reach_the_facade(bus_address: str, service: ApiService, facade: FakeFacade):
    await trio.to_thread.run_sync(lambda: client.call("Drain", bus=bus_address))
    assert facade.draining
    assert (
        await trio.to_thread.run_sync(lambda: client.get_property("Draining", bus=bus_address))
        is True
    )
    await trio.to_thread.run_sync(lambda: client.call("Resume", bus=bus_address))
    latency = await trio.to_thread.run_sync(lambda: client.call_json("TestStop", bus=bus_address))
    assert latency == 3.25
    assert facade.actions == ["drain", "resume", "test_stop"]


async def test_signals_follow_changes(bus_address: str, service: ApiService, facade: FakeFacade):
    async with open_dbus_router(bus_address) as router:
        rule = MatchRule(type="signal", path=names.OBJECT_PATH)
        await router.send_and_get_reply(message_bus.AddMatch(rule))
        async with router.filter(rule, bufsize=20) as signals:
            facade.apply({"phase": "not eligible", "reasons": ["driver door open"]})
            seen: dict[str, Any] = {}
            with trio.fail_after(5):
                while not {"PropertiesChanged", "StateChanged"} <= set(seen):
                    msg = await signals.receive()
                    seen[msg.header.fields[HeaderFields.member]] = msg.body
            assert seen["StateChanged"] == ("not eligible", ["driver door open"])
            assert seen["PropertiesChanged"][1]["Phase"] == ("s", "not eligible")
            await router.send_and_get_reply(new_method_call(OBJ, "TestStop"))
            with trio.fail_after(5):
                while (msg := await signals.receive()).header.fields[
                    HeaderFields.member
                ] != "Stopped":
                    pass
            assert msg.body == ("test stop", 3.25)


async def test_preferences_are_validated_and_applied(
    bus_address: str, service: ApiService, facade: FakeFacade
):
    def set_pref(name: str, value: str) -> Any:
        return client.call_json("SetPreference", name, value, bus=bus_address)

    assert await trio.to_thread.run_sync(set_pref, "charge_floor_percent", "60") == {
        "name": "charge_floor_percent",
        "value": 60.0,
    }
    assert facade.prefs["charge_floor_percent"] == 60.0
    with pytest.raises(client.ApiCallError, match=r"^value: .*between 20 and 90") as bad:
        await trio.to_thread.run_sync(set_pref, "charge_floor_percent", "5")
    assert bad.value.invalid_args
    with pytest.raises(client.ApiCallError, match=r"^name: no preference 'colour'"):
        await trio.to_thread.run_sync(set_pref, "colour", "red")
    assert facade.prefs["charge_floor_percent"] == 60.0


@pytest.mark.parametrize(
    ("member", "signature", "body", "message"),
    [
        ("SetPreference", "i", (5,), "name: expected type 's', got 'i'"),
        ("SetPreference", "s", ("charge_floor_percent",), "value: is missing"),
        ("SetPreference", "ssu", ("a", "b", 1), "arguments: too many"),
        ("GetLog", "s", ("ten",), "limit: expected type 'u', got 's'"),
        ("LedgerStatement", "s", ("2026-13",), "month: expected YYYY-MM"),
        ("LedgerYear", "u", (12,), "year: expected a year"),
        ("LedgerRecent", "u", (0,), "limit: must be between 1 and 1000"),
        ("AddCurtailment", "s", ("{nope",), "request_json: not JSON"),
        ("AddCurtailment", "s", ("{}",), "request_json: max_power_w: is required"),
    ],
)
async def test_bad_arguments_name_the_argument_and_the_service_goes_on(
    bus_address: str,
    service: ApiService,
    member: str,
    signature: str,
    body: tuple[Any, ...],
    message: str,
):
    reply = await raw(bus_address, OBJ, member, signature, body)
    name, text = error_of(reply)
    assert name == names.ERROR_INVALID_ARGS
    assert text.startswith(message), text
    ok = await raw(bus_address, OBJ, "Explain")
    assert ok.body == ("serving",)


async def test_unknown_method_and_read_only_properties(bus_address: str, service: ApiService):
    assert error_of(await raw(bus_address, OBJ, "Explode"))[0] == names.ERROR_UNKNOWN_METHOD
    name, _ = error_of(
        await raw(bus_address, PROPS, "Set", "ssv", (names.INTERFACE, "Phase", ("s", "serving")))
    )
    assert name == names.ERROR_PROPERTY_READ_ONLY
    name, text = error_of(await raw(bus_address, PROPS, "Get", "ss", (names.INTERFACE, "Nope")))
    assert name == names.ERROR_UNKNOWN_PROPERTY and "Nope" in text


async def test_ledger_queries(bus_address: str, service: ApiService):
    statement = await trio.to_thread.run_sync(
        lambda: client.call_json("LedgerStatement", "2026-11", bus=bus_address)
    )
    assert statement["totals"]["jobs"] == 5
    assert statement["not_completed"]["preempted"]["jobs"] == 1
    verify = await trio.to_thread.run_sync(
        lambda: client.call_json("LedgerVerify", bus=bus_address)
    )
    assert verify == {"ok": True, "entries": 7, "bad_seq": None, "problem": ""}


async def test_a_second_service_cannot_take_the_name(
    bus_address: str, service: ApiService, facade: FakeFacade
):
    with pytest.raises(ApiUnavailable, match="already owned"):
        await ApiService(facade, bus_address).run()


def test_client_names_the_bus_when_no_daemon(bus_address: str, tmp_path):
    with pytest.raises(client.DaemonUnreachable, match=r"not reachable on .*not on the bus"):
        client.call_json("GetBudget", bus=bus_address)
    missing = f"unix:path={tmp_path}/none"
    with pytest.raises(client.DaemonUnreachable, match=f"not reachable on {missing}"):
        client.call_json("GetBudget", bus=missing)


def test_client_uses_the_environment_bus(bus_address: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "unix:path=/nonexistent/parkmesh")
    with pytest.raises(client.DaemonUnreachable, match="/nonexistent/parkmesh"):
        client.call_json("GetBudget", bus=bus_address)


def test_runway_property_unknown_and_unlimited(facade: FakeFacade, monkeypatch: pytest.MonkeyPatch):
    from supervisor.api.properties import property_values

    base = facade.budget()
    monkeypatch.setattr(facade, "budget", lambda: {**base, "runway_s": None})
    assert property_values(facade)["RunwayS"] == ("d", float("inf"))
    monkeypatch.setattr(
        facade, "budget", lambda: {k: v for k, v in base.items() if k != "runway_s"}
    )
    assert property_values(facade)["RunwayS"] == ("d", -1.0)
    monkeypatch.setattr(facade, "budget", lambda: {**base, "soc_percent": float("nan")})
    assert property_values(facade)["StateOfCharge"] == ("d", -1.0)


async def test_a_bus_that_refuses_the_name(facade: FakeFacade):
    from parkmesh_private_bus import private_bus

    deny = """<policy context="default">
      <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
      <allow own="*"/><deny own="org.parkmesh.Supervisor1"/>
    </policy>"""
    with (
        private_bus(deny) as address,
        pytest.raises(ApiUnavailable, match=r"cannot own org\.parkmesh\..*AccessDenied"),
    ):
        with trio.fail_after(5):
            await ApiService(facade, address).run()
