"""The technician's Textual TUI: a separate process and a client of the daemon's DBus API."""
