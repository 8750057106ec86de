"""The daemon's DBus API ``org.parkmesh.Supervisor1``: service, client and the facade it serves.

``facade.SupervisorFacade`` is what the daemon implements; ``service.ApiService`` serves it on
the bus; ``client`` is the small synchronous client the CLI uses. Nothing here imports textual.
"""
