-- Runs once, when the postgres volume is first created: a separate database for the demo profile's worker,
-- so the demo never mixes sandbox data into the real portal's store.
CREATE DATABASE kpisync_demo OWNER kpisync;
