package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"orderimport/internal/locale"
)

// Webhook is an outbound webhook of a counter: where its feed's changes are posted, with the
// secret that signs them (sealed), and how far it has delivered (Cursor).
type Webhook struct {
	ID             int64
	AccountID      int64
	CounterID      int64
	URL            string
	SecretSealed   string
	Enabled        bool
	DisabledReason locale.Message // why it was disabled; zero while enabled
	DisabledAt     *time.Time
	Cursor         FeedCursor // the last change delivered
	CreatedAt      time.Time
}

const webhookColumns = `id, account_id, counter_id, url, secret_sealed, enabled, disabled_reason, disabled_at, cursor_seq, cursor_id, created_at`

func scanWebhook(row scanner) (Webhook, error) {
	var w Webhook
	var reason string
	var disabled sql.NullTime
	err := row.Scan(&w.ID, &w.AccountID, &w.CounterID, &w.URL, &w.SecretSealed, &w.Enabled, &reason, &disabled,
		&w.Cursor.Seq, &w.Cursor.ID, &w.CreatedAt)
	if err != nil {
		return Webhook{}, err
	}
	w.DisabledReason = locale.Decode(reason)
	w.DisabledAt = nullTime(disabled)
	return w, nil
}

// CreateWebhook adds a webhook to one of the account's counters. It starts at the end of the
// counter's feed: it is sent the changes committed after it was created.
func (s *Store) CreateWebhook(ctx context.Context, accountID, counterID int64, url, secretSealed string) (Webhook, error) {
	w := Webhook{AccountID: accountID, CounterID: counterID, URL: url, SecretSealed: secretSealed, Enabled: true, CreatedAt: s.nowUTC()}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT feed_seq FROM counters WHERE id = $1 AND account_id = $2`, counterID, accountID).Scan(&seq)
		if err != nil {
			return notFound(err)
		}
		// Every change at seq has committed; all of seq+1 is still to come (feed.go).
		w.Cursor = FeedCursor{Seq: seq + 1}
		return tx.QueryRowContext(ctx, `INSERT INTO webhooks (account_id, counter_id, url, secret_sealed, enabled, disabled_reason,
			cursor_seq, cursor_id, created_at) VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8) RETURNING id`,
			accountID, counterID, url, secretSealed, true, w.Cursor.Seq, w.Cursor.ID, w.CreatedAt).Scan(&w.ID)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("store: create webhook of counter %d: %w", counterID, err)
	}
	return w, nil
}

// Webhook loads one of the account's webhooks.
func (s *Store) Webhook(ctx context.Context, accountID, id int64) (Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND account_id = $2`, id, accountID))
	if err != nil {
		return Webhook{}, fmt.Errorf("store: webhook %d: %w", id, notFound(err))
	}
	return w, nil
}

// WebhookForWorker loads a webhook for its delivery job (system access); a deleted one is
// ErrNotFound.
func (s *Store) WebhookForWorker(ctx context.Context, id int64) (Webhook, error) {
	var w Webhook
	err := s.patiently(ctx, func() (err error) {
		w, err = scanWebhook(s.w.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("store: webhook %d: %w", id, notFound(err))
	}
	return w, nil
}

// Webhooks lists a counter's webhooks (all of the account's when counterID is 0), oldest first.
func (s *Store) Webhooks(ctx context.Context, accountID, counterID int64) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE account_id = $1 AND ($2 = 0 OR counter_id = $2) ORDER BY id`,
		accountID, counterID)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes a webhook with its deliveries and their log.
func (s *Store) DeleteWebhook(ctx context.Context, accountID, id int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM webhooks WHERE id = $1 AND account_id = $2`, id, accountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		for _, q := range []string{`DELETE FROM webhook_attempts WHERE webhook_id = $1`, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`,
			`DELETE FROM webhooks WHERE id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook %d: %w", id, err)
	}
	return nil
}

// EnabledWebhookIDs lists the enabled webhooks of the counters (their deliveries start when
// the counters' feeds grow).
func (s *Store) EnabledWebhookIDs(ctx context.Context, counterIDs []int64) ([]int64, error) {
	if len(counterIDs) == 0 {
		return nil, nil
	}
	args := []any{true}
	for _, id := range counterIDs {
		args = append(args, id)
	}
	return s.ids(ctx, `SELECT id FROM webhooks WHERE enabled = $1 AND counter_id IN (`+placeholders(2, len(counterIDs))+`) ORDER BY id`, args...)
}

// WebhooksBehind lists the enabled webhooks with something to deliver: a delivery waiting, or
// a change in their counter's feed after their cursor (the scheduler's safety net for
// deliveries a stopped process did not start).
func (s *Store) WebhooksBehind(ctx context.Context) ([]int64, error) {
	return s.ids(ctx, `SELECT w.id FROM webhooks w WHERE w.enabled = $1 AND (
		EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = $2)
		OR EXISTS (SELECT 1 FROM orders o WHERE o.counter_id = w.counter_id AND (o.feed_seq, o.id) > (w.cursor_seq, w.cursor_id)))
		ORDER BY w.id`, true, DeliveryPending)
}

func (s *Store) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	var out []int64
	err := s.patiently(ctx, func() error {
		out = out[:0]
		rows, err := s.w.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out = append(out, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: list ids: %w", err)
	}
	return out, nil
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // not delivered yet: sent again after a failure
	DeliveryDelivered = "delivered" // a 2xx answer came back
	DeliveryAbandoned = "abandoned" // the webhook was disabled before it got through
	DeliveryTest      = "test"      // a test a user sent: not part of the feed, sent once
)

// Delivery types: feed changes, and a test a user asked for.
const (
	EventOrdersChanged = "orders.changed"
	EventTest          = "webhook.test"
)

// Delivery is one message to a webhook: its body is frozen when it is made, so every attempt
// sends the same bytes under the same id.
type Delivery struct {
	ID             int64
	WebhookID      int64
	AccountID      int64
	MsgID          string
	Type           string
	Body           []byte
	Changes        int
	End            FeedCursor // the webhook's cursor once it is delivered
	Status         string
	Attempts       int
	CreatedAt      time.Time
	FirstAttemptAt *time.Time
	NextAttemptAt  *time.Time
}

const deliveryColumns = `id, webhook_id, account_id, msg_id, type, body, changes, end_seq, end_id, status, attempts, created_at,
	first_attempt_at, next_attempt_at`

func scanDelivery(row scanner) (Delivery, error) {
	var d Delivery
	var body string
	var first, next sql.NullTime
	err := row.Scan(&d.ID, &d.WebhookID, &d.AccountID, &d.MsgID, &d.Type, &body, &d.Changes, &d.End.Seq, &d.End.ID, &d.Status,
		&d.Attempts, &d.CreatedAt, &first, &next)
	if err != nil {
		return Delivery{}, err
	}
	d.Body = []byte(body)
	d.FirstAttemptAt, d.NextAttemptAt = nullTime(first), nullTime(next)
	return d, nil
}

// PendingDelivery is the webhook's delivery waiting to go through, if any (one at a time).
func (s *Store) PendingDelivery(ctx context.Context, webhookID int64) (*Delivery, error) {
	var d Delivery
	err := s.patiently(ctx, func() (err error) {
		d, err = scanDelivery(s.w.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
			WHERE webhook_id = $1 AND status = $2 ORDER BY id LIMIT 1`, webhookID, DeliveryPending))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: pending delivery of webhook %d: %w", webhookID, err)
	}
	return &d, nil
}

// NextDelivery freezes the next batch of the webhook's feed, at most limit changes after its
// cursor, into a pending delivery: build renders the changes into the body (with the msg id it
// is given). nil when the feed has nothing after the cursor.
func (s *Store) NextDelivery(ctx context.Context, w Webhook, limit int, msgID string, build func([]OrderRow) ([]byte, error)) (*Delivery, error) {
	var out *Delivery
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		var orders []OrderRow
		err := s.eachFeed(ctx, tx, w.AccountID, w.CounterID, w.Cursor, limit, func(o *OrderRow) error {
			orders = append(orders, *o)
			return nil
		})
		if err != nil || len(orders) == 0 {
			return err
		}
		body, err := build(orders)
		if err != nil {
			return err
		}
		d := Delivery{WebhookID: w.ID, AccountID: w.AccountID, MsgID: msgID, Type: EventOrdersChanged, Body: body,
			Changes: len(orders), End: orders[len(orders)-1].Cursor(), Status: DeliveryPending, CreatedAt: s.nowUTC()}
		err = tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, account_id, msg_id, type, body, changes, end_seq, end_id,
			status, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) RETURNING id`,
			d.WebhookID, d.AccountID, d.MsgID, d.Type, string(d.Body), d.Changes, d.End.Seq, d.End.ID, d.Status, d.CreatedAt).Scan(&d.ID)
		if err != nil {
			return err
		}
		out = &d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: next delivery of webhook %d: %w", w.ID, err)
	}
	return out, nil
}

// CreateTestDelivery records a test message a user sent to a webhook; it moves no cursor.
func (s *Store) CreateTestDelivery(ctx context.Context, w Webhook, msgID string, body []byte) (Delivery, error) {
	d := Delivery{WebhookID: w.ID, AccountID: w.AccountID, MsgID: msgID, Type: EventTest, Body: body, Status: DeliveryTest, CreatedAt: s.nowUTC()}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The body is not kept: a test is sent once, by the request that asked for it.
		return tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, account_id, msg_id, type, body, changes, end_seq, end_id,
			status, attempts, created_at) VALUES ($1, $2, $3, $4, '', 0, 0, 0, $5, 0, $6) RETURNING id`,
			d.WebhookID, d.AccountID, d.MsgID, d.Type, d.Status, d.CreatedAt).Scan(&d.ID)
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("store: test delivery of webhook %d: %w", w.ID, err)
	}
	return d, nil
}

// Attempt statuses.
const (
	AttemptSucceeded = "succeeded"
	AttemptFailed    = "failed"
)

// Attempt is one try of a delivery, as the deliveries log shows it.
type Attempt struct {
	ID         int64
	WebhookID  int64
	DeliveryID int64
	MsgID      string
	Type       string
	Changes    int
	Attempt    int
	Status     string
	HTTPStatus int // 0: no answer
	Error      locale.Message
	Duration   time.Duration
	At         time.Time
}

// AttemptResult is what one try of a delivery came to.
type AttemptResult struct {
	OK         bool
	HTTPStatus int
	Error      locale.Message
	Duration   time.Duration
	At         time.Time
}

// RecordAttempt logs a try of a delivery and moves it on: a success marks it delivered and,
// for feed changes, moves the webhook's cursor to its end in the same transaction; a failure
// schedules the next try at next (zero: none, the delivery is abandoned and the webhook
// disabled with reason). It returns the attempt's number.
func (s *Store) RecordAttempt(ctx context.Context, d Delivery, r AttemptResult, next time.Time, reason locale.Message) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT attempts FROM webhook_deliveries WHERE id = $1`, d.ID).Scan(&n); err != nil {
			return notFound(err)
		}
		n++
		status := AttemptFailed
		if r.OK {
			status = AttemptSucceeded
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (webhook_id, delivery_id, account_id, attempt, status, http_status, error,
			duration_ms, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			d.WebhookID, d.ID, d.AccountID, n, status, r.HTTPStatus, locale.Encode(r.Error), r.Duration.Milliseconds(), r.At.UTC()); err != nil {
			return err
		}
		if d.Type == EventTest {
			_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $1, first_attempt_at = $2, finished_at = $2
				WHERE id = $3`, n, r.At.UTC(), d.ID)
			return err
		}
		switch {
		case r.OK:
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $1, status = $2, body = '',
				first_attempt_at = COALESCE(first_attempt_at, $3), next_attempt_at = NULL, finished_at = $3 WHERE id = $4`,
				n, DeliveryDelivered, r.At.UTC(), d.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE webhooks SET cursor_seq = $1, cursor_id = $2 WHERE id = $3`, d.End.Seq, d.End.ID, d.WebhookID)
			return err
		case next.IsZero():
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $1, status = $2,
				first_attempt_at = COALESCE(first_attempt_at, $3), next_attempt_at = NULL, finished_at = $3 WHERE id = $4`,
				n, DeliveryAbandoned, r.At.UTC(), d.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE webhooks SET enabled = $1, disabled_reason = $2, disabled_at = $3 WHERE id = $4`,
				false, locale.Encode(reason), r.At.UTC(), d.WebhookID)
			return err
		default:
			_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $1, first_attempt_at = COALESCE(first_attempt_at, $2),
				next_attempt_at = $3 WHERE id = $4`, n, r.At.UTC(), next.UTC(), d.ID)
			return err
		}
	})
	if err != nil {
		return 0, fmt.Errorf("store: record attempt of delivery %d: %w", d.ID, err)
	}
	return n, nil
}

// EnableWebhook turns a disabled webhook on again: a delivery it had abandoned is sent again
// from its first try (its cursor never moved past it).
func (s *Store) EnableWebhook(ctx context.Context, accountID, id int64) (Webhook, error) {
	var w Webhook
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET enabled = $1, disabled_reason = '', disabled_at = NULL WHERE id = $2 AND account_id = $3`,
			true, id, accountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = 0, first_attempt_at = NULL, next_attempt_at = NULL,
			finished_at = NULL WHERE webhook_id = $2 AND status = $3 AND body <> ''`, DeliveryPending, id, DeliveryAbandoned); err != nil {
			return err
		}
		w, err = scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("store: enable webhook %d: %w", id, err)
	}
	return w, nil
}

// Attempts lists a webhook's deliveries log, newest first: up to limit attempts before the
// attempt id before (0: from the newest).
func (s *Store) Attempts(ctx context.Context, accountID, webhookID, before int64, limit int) ([]Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT a.id, a.webhook_id, a.delivery_id, d.msg_id, d.type, d.changes, a.attempt, a.status, a.http_status,
		a.error, a.duration_ms, a.at FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE a.account_id = $1 AND a.webhook_id = $2 AND ($3 = 0 OR a.id < $3) ORDER BY a.id DESC LIMIT $4`,
		accountID, webhookID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of webhook %d: %w", webhookID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var msg string
		var ms int64
		if err := rows.Scan(&a.ID, &a.WebhookID, &a.DeliveryID, &a.MsgID, &a.Type, &a.Changes, &a.Attempt, &a.Status, &a.HTTPStatus,
			&msg, &ms, &a.At); err != nil {
			return nil, fmt.Errorf("store: deliveries of webhook %d: %w", webhookID, err)
		}
		a.Error = locale.Decode(msg)
		a.Duration = time.Duration(ms) * time.Millisecond
		a.At = a.At.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// PruneAttempts deletes the deliveries log older than before, and the delivered or tested
// deliveries left without attempts; pending deliveries and their attempts stay whatever their
// age.
func (s *Store) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE at < $1 AND delivery_id NOT IN
			(SELECT id FROM webhook_deliveries WHERE status = $2)`, before.UTC(), DeliveryPending)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status <> $1 AND created_at < $2 AND
			NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = webhook_deliveries.id)`, DeliveryPending, before.UTC())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune the deliveries log: %w", err)
	}
	return n, nil
}

// WebhookTx loads a webhook inside the caller's transaction; nil when it is gone.
func (s *Store) WebhookTx(ctx context.Context, tx *sql.Tx, id int64) (*Webhook, error) {
	w, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: webhook %d: %w", id, err)
	}
	return &w, nil
}
