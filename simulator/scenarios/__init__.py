"""Scenario library: one module per incident family, registered in simulator.scenarios.registry."""
