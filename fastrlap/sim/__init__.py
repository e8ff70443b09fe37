"""Built-in race tracks and prior environments live in tracks/; this package knows nothing about RL."""
