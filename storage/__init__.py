"""The local store: schema, engine, migrations, queries and upserts. Never imports the HubSpot client."""
