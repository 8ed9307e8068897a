-- hookshape's PostgreSQL schema, version 11: what an event's catalog topics with
-- `validation: warn` found wrong with its Payload (a JSON array of text), NULL when it
-- conforms (most events: no cost).
ALTER TABLE events ADD COLUMN schema_problems TEXT;
