"""The uplink to the fleet dispatcher (MQTT 5), the reference dispatcher and the fleet simulator."""
