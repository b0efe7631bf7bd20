"""Native (Cython) hot paths of the node. The node refuses to start without them."""
