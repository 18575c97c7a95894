package jobs

import (
	"database/sql"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"orderimport/internal/store"
)

// newPostgresDriver uses River's database/sql driver so that the store and River share one
// transaction type (*sql.Tx) on both engines: a job is enqueued in the same transaction that
// creates its run and advances the schedule. LISTEN needs a session of its own, which
// database/sql cannot lend, so River listens on a dedicated pgx connection from the store's
// listener pool; inserts still notify through pg_notify inside our transactions, so a "run
// now" starts at once instead of at the next poll.
func newPostgresDriver(st *store.Store) riverdriver.Driver[*sql.Tx] {
	return riverdatabasesql.NewWithPgxListener(st.DB(), st.ListenerPool())
}
