"""A local HubSpot stand-in: a seeded sales portal served over HubSpot's CRM API paths and shapes.

Nothing here imports from `sync`, `kpi` or `storage`: the sandbox stands in for HubSpot, and a shared import
would hide a fidelity bug.
"""
