-- Schema version 13 (SQLite): re-mapping only what changed.
--
-- The tracker fields a re-map under way evaluates anew, comma-separated ("": every field). A
-- mapping change that leaves the other fields' expressions (and the zone, pii and currencies)
-- as they were re-evaluates only the changed ones and keeps the rest of each stored row; the
-- set is committed with the checkpoint so that a re-map resumed after a crash or a time slice
-- evaluates what it began with.
ALTER TABLE sync_state ADD COLUMN remap_fields TEXT NOT NULL DEFAULT '';
