"""Local HTTP servers that behave like the cloud providers, for the connector tests."""
