"""The daemon: the services that run a parked car's GPU for the mesh, wired together."""
