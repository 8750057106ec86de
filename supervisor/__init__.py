"""The parkmesh supervisor daemon: vehicle state, admission policy, pre-emption and services."""
