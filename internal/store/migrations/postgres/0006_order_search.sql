-- Schema version 6: indexes for the order search (q=, the web UI's search box), which matches an
-- order id, a phone or an email exactly. Without them every search walked all of a counter's
-- orders: about a second per request at a million orders, so a few searches at once took the
-- node. order_id already has the (counter_id, order_id) unique index.

CREATE INDEX orders_counter_phone ON orders(counter_id, contact_phone);
CREATE INDEX orders_counter_email ON orders(counter_id, contact_email);
