"""Node kinds: what idle machine with a battery parkmesh runs on (a car, a home battery, a
docked robot). Each kind supplies its signals, its hard-stop rules and its budget inputs
(`supervisor.nodes.adapter.NodeAdapter`); ``[node] kind`` chooses one (docs/nodes.md).

This package's top and `config` import nothing heavy: the configuration schema imports them.
"""
