-- hookshape's PostgreSQL schema, version 7: console sessions signed out before their
-- expiry (seconds), so that their cookies stop working on every node and after a restart;
-- forgotten once they would have expired.
CREATE TABLE revoked_sessions (
    nonce TEXT COLLATE "C" PRIMARY KEY,
    until BIGINT NOT NULL
);
