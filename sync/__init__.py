"""Everything that faces HubSpot and runs the service: client adapter, pull, write-back, scheduler, CLI."""
