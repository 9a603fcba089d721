"""Scenario service settings: the shared ones, named for this service."""

from servicekit.settings import Settings

SERVICE = "scenario"


def load() -> Settings:
    return Settings.from_env(SERVICE)
