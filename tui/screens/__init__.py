"""One screen per view of the daemon; each shows a `DaemonState` handed down by the app."""
