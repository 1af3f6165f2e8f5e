"""Textbook models written as ybstate Specs, for checking the drivers against published results."""
