"""Dossier-check service settings: the shared ones, named for this service."""

from servicekit.settings import Settings

SERVICE = "dossiercontrole"


def load() -> Settings:
    return Settings.from_env(SERVICE)
