-- History pages are newest first by id: a filter on state, or on subscription and state,
-- reads its page straight off one of these (the console's deliveries page at any size).
CREATE INDEX deliveries_status_id ON deliveries (status, id);
DROP INDEX deliveries_status;
CREATE INDEX deliveries_subscription_id ON deliveries (subscription, status, id);
