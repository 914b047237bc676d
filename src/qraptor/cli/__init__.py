"""Every entry point of qraptor: the `qraptor` command, the `@hydra.main` training task, the
DVC stage commands and the dashboard's launcher. Nothing below this package parses arguments,
reads environment variables for settings, or composes `conf/`."""
