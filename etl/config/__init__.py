"""Settings: the YAML config, environment overrides, one office or a group."""
