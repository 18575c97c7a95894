package jobs

import (
	"database/sql"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"orderimport/internal/store"
)

// newPostgresDriver uses River's database/sql driver so that the store and River share one
// transaction type on both engines; River then polls instead of using LISTEN/NOTIFY, which
// costs a few queries a second and nothing in correctness.
func newPostgresDriver(st *store.Store) riverdriver.Driver[*sql.Tx] {
	return riverdatabasesql.New(st.DB())
}
