"""Reading what the runs are doing and found, through the API client: ``refresh`` (status of
runs not ended), ``wait`` (polling until they end) and ``findings`` (the failed test cases of
ended runs). Each returns data (``reconciler.results``) and the journal records to keep."""
