"""How a network is fitted: the fit loops, data-parallel training, the cluster and the runtime."""
