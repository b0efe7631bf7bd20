"""Python client SDK of gb over the reference codec."""
