"""Faithful fakes of public services, built on ``responses``, for tests that must not go online."""
