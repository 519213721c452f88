"""`forecast serve`: the HTTP app over saved runs and the cache of loaded runs."""
