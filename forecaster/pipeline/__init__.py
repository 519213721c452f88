"""Pipeline: the train, predict, evaluate and report functions the CLI calls."""
