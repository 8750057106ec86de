"""The interface as ``interface.xml`` declares it: methods with their arguments, properties.

The service checks every call's signature against this, so the XML in the repo is the one
source of truth and error messages use its argument names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .names import INTERFACE_XML_PATH


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument: its name and single complete DBus type."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Method:
    """One method's input and output arguments."""

    name: str
    inputs: tuple[Arg, ...]
    outputs: tuple[Arg, ...]

    @property
    def in_signature(self) -> str:
        return "".join(a.type for a in self.inputs)

    @property
    def out_signature(self) -> str:
        return "".join(a.type for a in self.outputs)


@dataclass(frozen=True, slots=True)
class Interface:
    """One interface: methods by name, property types by name, signal signatures by name."""

    name: str
    methods: dict[str, Method]
    properties: dict[str, str]
    signals: dict[str, tuple[Arg, ...]]


def parse_interfaces(xml_text: str) -> dict[str, Interface]:
    """Every interface in an introspection document, by name.

    Raises:
        xml.etree.ElementTree.ParseError: for malformed XML.
    """
    root = ET.fromstring(xml_text)
    result = {}
    for iface in root.iter("interface"):
        methods = {}
        for m in iface.iter("method"):
            args = [Arg(a.get("name", ""), a.get("type", "")) for a in m.iter("arg")]
            dirs = [a.get("direction", "in") for a in m.iter("arg")]
            methods[m.get("name", "")] = Method(
                m.get("name", ""),
                tuple(a for a, d in zip(args, dirs, strict=True) if d == "in"),
                tuple(a for a, d in zip(args, dirs, strict=True) if d == "out"),
            )
        props = {p.get("name", ""): p.get("type", "") for p in iface.iter("property")}
        signals = {
            s.get("name", ""): tuple(
                Arg(a.get("name", ""), a.get("type", "")) for a in s.iter("arg")
            )
            for s in iface.iter("signal")
        }
        name = iface.get("name", "")
        result[name] = Interface(name, methods, props, signals)
    return result


@cache
def interface_xml(path: Path = INTERFACE_XML_PATH) -> str:
    """The introspection XML as kept in the repository."""
    return path.read_text(encoding="utf-8")


@cache
def interfaces() -> dict[str, Interface]:
    """The parsed interfaces of ``interface.xml``."""
    return parse_interfaces(interface_xml())


def split_signature(signature: str) -> list[str]:
    """Split a DBus signature into its single complete types (``"sa{sv}i"`` -> s, a{sv}, i)."""
    types: list[str] = []
    i = 0
    while i < len(signature):
        end = _complete_type_end(signature, i)
        types.append(signature[i:end])
        i = end
    return types


def _complete_type_end(sig: str, i: int) -> int:
    if sig[i] == "a":
        return _complete_type_end(sig, i + 1)
    if sig[i] in "({":
        close = ")" if sig[i] == "(" else "}"
        depth, j = 0, i
        while j < len(sig):
            if sig[j] in "({":
                depth += 1
            elif sig[j] in ")}":
                depth -= 1
                if depth == 0 and sig[j] == close:
                    return j + 1
            j += 1
        return len(sig)
    return i + 1
