"""Models: the recurrent network (cells, builder, forecaster) and the baselines."""
