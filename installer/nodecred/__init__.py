"""nodecred: secretless private-registry pulls for every node of a cluster."""

__version__ = "0.1.0"
