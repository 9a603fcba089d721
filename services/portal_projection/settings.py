"""Portal projection settings: the shared ones, named for this service."""

from servicekit.settings import Settings

SERVICE = "portal"


def load() -> Settings:
    return Settings.from_env(SERVICE)
