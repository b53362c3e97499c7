"""The detectors fleetwatch ships, and the one place that lists them."""
