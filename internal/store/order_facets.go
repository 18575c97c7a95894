package store

import (
	"context"
	"fmt"
)

// maxFacets bounds a filter menu; an account with more distinct values types them instead.
const maxFacets = 200

// OrderFacets lists the distinct RetailCRM status codes and store codes among a counter's
// orders, for the filter menus of the orders page.
func (s *Store) OrderFacets(ctx context.Context, accountID, counterID int64) (statuses, sites []string, err error) {
	if statuses, err = s.distinctOrderValues(ctx, "status", accountID, counterID); err != nil {
		return nil, nil, err
	}
	if sites, err = s.distinctOrderValues(ctx, "site", accountID, counterID); err != nil {
		return nil, nil, err
	}
	return statuses, sites, nil
}

// distinctOrderValues reads one column's distinct values; column is one of two constants
// above, never user input.
func (s *Store) distinctOrderValues(ctx context.Context, column string, accountID, counterID int64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT `+column+` FROM orders WHERE account_id = $1 AND counter_id = $2 AND `+column+` <> ''
		ORDER BY `+column+` LIMIT $3`, accountID, counterID, maxFacets)
	if err != nil {
		return nil, fmt.Errorf("store: order %s values: %w", column, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: order %s values: %w", column, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
