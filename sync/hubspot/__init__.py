"""The HubSpot adapter: the only code that knows HubSpot's wire format and the SDK."""
