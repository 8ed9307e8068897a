-- hookshape's PostgreSQL schema, version 15: which subscriptions each node has loaded now.
-- `subscription_seen` says when some node last had a subscription (for the orphan grace),
-- and keeps saying so for a while after the last node dropped it; a resend asked of a
-- node without the subscription must know whether another live node has it at this moment.
-- Written by each node beside its heartbeat, only when its set changes.
ALTER TABLE nodes ADD COLUMN loaded TEXT[] COLLATE "C";
