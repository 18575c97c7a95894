package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"orderimport/internal/locale"
)

// Before schema version 7, run failures, run issues and task statuses were stored as rendered
// English sentences. Version 7 stores message codes with arguments instead; LegacyMessage reads
// an old sentence back into its code, so that the rows written before the upgrade read in the
// user's language like new ones. A sentence it does not know becomes "legacy_text", shown with
// the old words as a quoted detail.

// legacyPattern recognises one old sentence. The regexp's named groups become arguments; the
// group "detail" becomes the message's detail, "last" a nested message (read recursively).
type legacyPattern struct {
	re   *regexp.Regexp
	code string
}

var legacyPatterns = func() []legacyPattern {
	p := func(re, code string) legacyPattern { return legacyPattern{regexp.MustCompile(re), code} }
	return []legacyPattern{
		// Failures of runs (internal/importer, internal/jobs, internal/retailcrm).
		p(`^(?P<n>\d+) runs in a row failed; the last error: (?P<last>.*)$`, "runs_failed_in_row"),
		p(`^the worker stopped before the run finished`, "run_interrupted"),
		p(`^the import task was deleted`, "task_deleted"),
		p(`^the stored RetailCRM API key is sealed under a key this process does not have`, "key_unknown_master"),
		p(`^the stored RetailCRM API key cannot be decrypted`, "key_undecryptable"),
		p(`^the RetailCRM API key has no permission to read orders`, "crm_no_order_read"),
		p(`^RetailCRM reports an unknown timezone "(?P<zone>[^"]*)"`, "crm_timezone_unknown"),
		p(`^the RetailCRM API key has access to no store`, "crm_no_store"),
		p(`^the task's mapping is not valid JSON`, "mapping_invalid"),
		p(`^the mapping has errors: (?P<detail>.*)$`, "mapping_invalid"),
		p(`^the counter's timezone "(?P<zone>[^"]*)" is unknown`, "counter_timezone_unknown"),
		p(`^orders of (?P<from>\S+)–(?P<to>\S+) kept being deleted or moved while they were read \((?P<attempts>\d+) attempts\)`, "window_unstable"),
		p(`^RetailCRM's change feed did not move past entry (?P<entry>\d+)`, "feed_stuck"),
		p(`^the API key's access to stores changed during the run`, "crm_access_changed"),
		p(`^RetailCRM answered a request with something other than its API while the account itself answers`, "crm_odd_answer"),
		p(`^(?P<detail>.*); the key check that followed failed too`, "crm_check_failed_too"),
		p(`^RetailCRM rejected the API key(?: \((?P<detail>.*)\))?`, "crm_invalid_key"),
		p(`^the API key is not allowed to read this data in RetailCRM(?: \((?P<detail>.*)\))?`, "crm_access_denied"),
		p(`^no RetailCRM account answers at this address(?:; check the account URL)?(?: \((?P<detail>.*)\))?`, "crm_account_not_found"),
		p(`^RetailCRM refused the request(?: \((?P<detail>.*)\))?`, "crm_validation"),
		p(`^RetailCRM has no such record(?: \((?P<detail>.*)\))?`, "crm_not_found"),
		p(`^RetailCRM asked to slow down[^(]*(?: \((?P<detail>.*)\))?`, "crm_rate_limited"),
		p(`^RetailCRM had an internal error(?: \((?P<detail>.*)\))?`, "crm_server"),
		p(`^could not reach RetailCRM(?: \((?P<detail>.*)\))?`, "crm_transport"),
		p(`^RetailCRM sent an answer that could not be read(?: \((?P<detail>.*)\))?`, "crm_garbled"),
		p(`^RetailCRM request failed(?: \((?P<detail>.*)\))?`, "crm_failed"),
	}
}()

// LegacyMessage reads a sentence stored before message codes into its message.
func LegacyMessage(text string) locale.Message {
	text = strings.TrimSpace(text)
	if text == "" {
		return locale.Message{}
	}
	for _, lp := range legacyPatterns {
		if msg, ok := lp.read(text); ok {
			return msg
		}
	}
	if msg, ok := legacyIssue(text); ok {
		return msg
	}
	return locale.Message{Code: "legacy_text", Detail: text}
}

// convertLegacyMessages is the data part of migration 7: every stored sentence becomes its
// message, and an issue's order reference "NUMBER (id ID)" becomes the number and, where the
// task exports RetailCRM's id as its order_id (the default), the exported order_id.
func convertLegacyMessages(ctx context.Context, tx *sql.Tx) error {
	type taskRow struct {
		id      int64
		status  string
		mapping string
	}
	var tasks []taskRow
	rows, err := tx.QueryContext(ctx, `SELECT id, status_message, mapping FROM import_tasks`)
	if err != nil {
		return fmt.Errorf("read tasks: %w", err)
	}
	for rows.Next() {
		var t taskRow
		if err := rows.Scan(&t.id, &t.status, &t.mapping); err != nil {
			rows.Close()
			return fmt.Errorf("read tasks: %w", err)
		}
		tasks = append(tasks, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read tasks: %w", err)
	}
	idIsOrderID := map[int64]bool{}
	for _, t := range tasks {
		own, _ := decodeMapping(t.mapping)
		expr, set := own["order_id"]
		idIsOrderID[t.id] = !set || expr == "id"
		if t.status != "" && !strings.HasPrefix(t.status, "{") {
			if _, err := tx.ExecContext(ctx, `UPDATE import_tasks SET status_message = $1 WHERE id = $2`,
				locale.Encode(LegacyMessage(t.status)), t.id); err != nil {
				return fmt.Errorf("convert status of task %d: %w", t.id, err)
			}
		}
	}

	type runRow struct {
		id, taskID int64
		errText    string
		issues     string
	}
	var runs []runRow
	rows, err = tx.QueryContext(ctx, `SELECT id, task_id, error, issues FROM runs WHERE error <> '' OR issues <> ''`)
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.id, &r.taskID, &r.errText, &r.issues); err != nil {
			rows.Close()
			return fmt.Errorf("read runs: %w", err)
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	ref := regexp.MustCompile(`^(.*) \(id (\d+)\)$`)
	for _, r := range runs {
		errText := r.errText
		if errText != "" && !strings.HasPrefix(errText, "{") {
			errText = locale.Encode(LegacyMessage(errText))
		}
		issues := r.issues
		if issues != "" {
			var old []storedIssue
			if err := json.Unmarshal([]byte(issues), &old); err != nil {
				return fmt.Errorf("decode issues of run %d: %w", r.id, err)
			}
			list := make([]Issue, 0, len(old))
			for _, o := range old {
				is := Issue{OrderID: o.OrderID, OrderNumber: o.OrderNumber, Field: o.Field, Value: o.Value,
					Msg: locale.Message{Code: o.Code, Args: o.Args, Detail: o.Detail}}
				if o.Code == "" {
					is.Msg = LegacyMessage(o.Message)
					num, id := o.OrderID, ""
					if m := ref.FindStringSubmatch(o.OrderID); m != nil {
						num, id = m[1], m[2]
					} else if _, err := strconv.ParseInt(o.OrderID, 10, 64); err == nil {
						num, id = "", o.OrderID
					}
					is.OrderNumber, is.OrderID = num, ""
					if idIsOrderID[r.taskID] {
						is.OrderID = id
					}
				}
				list = append(list, is)
			}
			b, err := json.Marshal(list)
			if err != nil {
				return fmt.Errorf("encode issues of run %d: %w", r.id, err)
			}
			issues = string(b)
		}
		if errText == r.errText && issues == r.issues {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET error = $1, issues = $2 WHERE id = $3`, errText, issues, r.id); err != nil {
			return fmt.Errorf("convert run %d: %w", r.id, err)
		}
	}
	return nil
}

// legacyIssuePatterns are the old English texts of run issues (internal/mapping).
var legacyIssuePatterns = func() []legacyPattern {
	p := func(re, code string) legacyPattern { return legacyPattern{regexp.MustCompile(re), code} }
	return []legacyPattern{
		p(`^order rejected: not a JSON object: (?P<detail>.*)$`, "order_invalid_json"),
		p(`^missing$`, "required_missing"),
		p(`^not a valid phone number`, "phone_invalid"),
		p(`^not a valid email address`, "email_invalid"),
		p(`^a tag was cut to (?P<max>\d+) characters`, "tag_truncated"),
		p(`^only the first (?P<max>\d+) tags were kept`, "tags_dropped"),
		p(`^expected text, got (?P<kind>.*)$`, "text_expected"),
		p(`^cut to (?P<max>\d+) characters`, "text_truncated"),
		p(`^expected text or a number, got (?P<kind>.*)$`, "identifier_kind"),
		p(`^longer than (?P<max>\d+) characters`, "identifier_too_long"),
		p(`^the expression failed at (?P<line>\d+):(?P<column>\d+): (?P<detail>.*)$`, "expression_failed"),
		p(`^the expression failed: (?P<detail>.*)$`, "expression_failed"),
		p(`^no date$`, "date_missing"),
		p(`^expected a date, got (?P<kind>(?:nothing \(nil\)|text|true/false|a date|a duration|an object|a number|a list))`, "date_expected"),
		p(`^date (?P<date>.*) is outside (?P<first>\d+)–(?P<last>\d+)`, "date_out_of_range"),
		p(`^expected YYYY-MM-DD HH:MM:SS`, "date_format"),
		p(`^"(?P<value>.*)" is not a real date or time`, "date_not_real"),
		p(`^not a number$`, "number_invalid"),
		p(`^no value$`, "number_missing"),
		p(`^expected a number, got (?P<kind>(?:nothing \(nil\)|text|true/false|a date|a duration|an object|a number|a list))`, "number_expected"),
		p(`^number .* is too large \((?P<max_plus_one>\d+) digits or more\)`, "number_too_large"),
		p(`^number out of range`, "number_out_of_range"),
		p(`^ambiguous number`, "number_ambiguous"),
	}
}()

// legacyKinds turn the old English names of kinds of values into the kind codes messages take.
var legacyKinds = map[string]string{"nothing (nil)": "nil", "text": "text", "true/false": "bool", "a date": "date",
	"a duration": "duration", "an object": "object", "a number": "number", "a list": "list"}

// legacyIssue reads an old run issue's text; a required field's "order rejected: FIELD: reason"
// becomes order_rejected with the reason nested.
func legacyIssue(text string) (locale.Message, bool) {
	if rest, ok := strings.CutPrefix(text, "order rejected: "); ok && !strings.HasPrefix(rest, "not a JSON object") {
		if _, reason, ok := strings.Cut(rest, ": "); ok {
			inner, _ := legacyIssue(reason)
			if inner.IsZero() {
				inner = locale.Message{Code: "legacy_text", Detail: reason}
			}
			return locale.M("order_rejected", "reason", inner), true
		}
	}
	for _, lp := range legacyIssuePatterns {
		if msg, ok := lp.read(text); ok {
			return msg, true
		}
	}
	return locale.Message{}, false
}

// read matches one old sentence and turns its named groups into the message's arguments:
// "detail" is the detail, "last" a nested message, "kind" an old name of a kind of value,
// "max_plus_one" the first digit count an old text refused (the message names the most
// allowed); numbers stay numbers.
func (lp legacyPattern) read(text string) (locale.Message, bool) {
	m := lp.re.FindStringSubmatch(text)
	if m == nil {
		return locale.Message{}, false
	}
	msg := locale.Message{Code: lp.code}
	for i, name := range lp.re.SubexpNames() {
		if name == "" || m[i] == "" {
			continue
		}
		switch name {
		case "detail":
			msg.Detail = m[i]
		case "last":
			msg = msg.WithArg(name, LegacyMessage(m[i]))
		case "max_plus_one":
			n, _ := strconv.ParseInt(m[i], 10, 64)
			msg = msg.WithArg("max", n-1)
		case "kind":
			k, ok := legacyKinds[m[i]]
			if !ok {
				k = "other"
			}
			msg = msg.WithArg(name, k)
		default:
			if n, err := strconv.ParseInt(m[i], 10, 64); err == nil {
				msg = msg.WithArg(name, n)
			} else {
				msg = msg.WithArg(name, m[i])
			}
		}
	}
	return msg, true
}
