"""The docked robot node: UPower and the robot's task system on DBus (docs/nodes.md)."""
