"""Runs cycles as a process: settings, worker, CLI, admin API and page, status, metrics."""
