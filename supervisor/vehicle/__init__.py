"""Vehicle state from CAN, DBus, scenarios and replays, named by COVESA VSS 6.0 paths."""
