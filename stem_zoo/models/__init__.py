"""Architectures of the zoo's models."""
