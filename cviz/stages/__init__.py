"""One module per stage group: read inputs from storage, call the computation, write outputs."""
