"""Hostile inputs and value-free errors: the reliability properties 1-10, 19, 21 and 24."""
