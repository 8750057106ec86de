"""The home battery node: a battery inverter read over SunSpec Modbus TCP (docs/nodes.md)."""
