-- Schema version 7: messages are stored as codes with arguments (JSON), not as rendered
-- English: runs.error, runs.issues (each issue with order_id, order_number, field, value, code,
-- args, detail) and import_tasks.status_message keep their columns and change their content.
-- The conversion of the rows written before is Go code (internal/store/legacy.go), run in this
-- migration's transaction; the statement below only marks the version.
SELECT 1;
