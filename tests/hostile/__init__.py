"""Hostile inputs and value-free errors: accounting and validation, value-free errors, no retry of a mistake, plain flow parameters."""
