"""Workers: the Backend port and its implementations."""
