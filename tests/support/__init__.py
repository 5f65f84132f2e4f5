"""Test utilities: synthetic forcings, the toy soil model, a third model for contract tests."""
