-- Schema version 3 (PostgreSQL): the checkpoint remembers what its stored orders were derived from
-- (mapping, timezones, the key's stores, the backfill start). A run that finds any of them
-- changed re-reads the task's orders instead of leaving rows that no longer match the CRM.
-- '' means unknown: the next run re-syncs once.
ALTER TABLE sync_state ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
