"""A simulated Open Dental API (patients endpoints) with synthetic data, for tests and demos."""

from __future__ import annotations

from etl.simulator.clock import OfficeClock
from etl.simulator.config import RequestLog, SimulatorConfig
from etl.simulator.data import make_patients, vendor_example_patient
from etl.simulator.server import Simulator
from etl.simulator.store import PatientStore

__all__ = [
    "OfficeClock",
    "PatientStore",
    "RequestLog",
    "Simulator",
    "SimulatorConfig",
    "make_patients",
    "vendor_example_patient",
]
