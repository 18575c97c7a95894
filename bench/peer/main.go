// Command peer is the side-by-side of the benchmark harness: the backfill a user would script
// with the official Go client, github.com/retailcrm/api-client-go v1.3.0 — a page loop over
// /api/v5/orders with limit 100 and one INSERT per order into SQLite (the same driver and
// pragmas as orderimport). It is a module of its own so that orderimport never depends on that
// client.
//
//	go run . -url http://127.0.0.1:8090 -key KEY -db /tmp/peer.db [-sample ORDER_ID]
//
// It prints one JSON object: how long it took, how many orders it stored, and for -sample what
// it stored of that order (to show what the client's types lose).
package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	v5 "github.com/retailcrm/api-client-go/v5"
	_ "modernc.org/sqlite"
)

type sample struct {
	ID           int               `json:"id"`
	TotalSumm    float64           `json:"total_summ"`    // as stored (REAL) and read back
	PurchaseSumm float64           `json:"purchase_summ"` // as stored (REAL) and read back
	Profit       float64           `json:"profit"`        // total − purchase − delivery net cost, in the client's float32
	CustomFields map[string]string `json:"custom_fields"` // what the client decoded
}

type result struct {
	Orders   int     `json:"orders"`
	Pages    int     `json:"pages"`
	WallNs   int64   `json:"wall_ns"`
	Sample   *sample `json:"sample,omitempty"`
	ErrorMsg string  `json:"error,omitempty"`
}

func main() {
	url := flag.String("url", "", "RetailCRM (emulator) URL")
	key := flag.String("key", "", "API key")
	dbPath := flag.String("db", "", "SQLite file")
	sampleID := flag.Int("sample", 0, "order id whose stored values to report")
	flag.Parse()
	res, err := run(*url, *key, *dbPath, *sampleID)
	if err != nil {
		res.ErrorMsg = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if err != nil {
		os.Exit(1)
	}
}

func run(url, key, dbPath string, sampleID int) (result, error) {
	var res result
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return res, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, number TEXT, created_at TEXT, status TEXT, site TEXT,
		total_summ REAL, purchase_summ REAL, profit REAL, first_name TEXT, last_name TEXT, phone TEXT, email TEXT,
		customer_comment TEXT, session_id TEXT, custom_fields TEXT)`); err != nil {
		return res, err
	}
	client := v5.New(url, key)
	start := time.Now()
	var picked *v5.Order
	for page := 1; ; page++ {
		resp, status, ferr := client.Orders(v5.OrdersRequest{Limit: 100, Page: page})
		if ferr != nil {
			return res, fmt.Errorf("page %d: status %d: %s %s", page, status, ferr.Error(), ferr.ApiError())
		}
		res.Pages++
		for i := range resp.Orders {
			o := &resp.Orders[i]
			netCost := float32(0)
			if o.Delivery != nil {
				netCost = o.Delivery.NetCost
			}
			profit := o.TotalSumm - o.PurchaseSumm - netCost
			cf, _ := json.Marshal(o.CustomFields)
			if _, err := db.Exec(`INSERT OR REPLACE INTO orders (id, number, created_at, status, site, total_summ, purchase_summ, profit,
				first_name, last_name, phone, email, customer_comment, session_id, custom_fields)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				o.ID, o.Number, o.CreatedAt, o.Status, o.Site, o.TotalSumm, o.PurchaseSumm, profit,
				o.FirstName, o.LastName, o.Phone, o.Email, o.CustomerComment, o.CustomFields["k50_sid"], string(cf)); err != nil {
				return res, err
			}
			res.Orders++
			if o.ID == sampleID {
				picked = o
			}
		}
		if resp.Pagination == nil || page >= resp.Pagination.TotalPageCount {
			break
		}
	}
	res.WallNs = int64(time.Since(start))
	if picked != nil {
		s := &sample{ID: picked.ID, CustomFields: picked.CustomFields}
		if err := db.QueryRow(`SELECT total_summ, purchase_summ, profit FROM orders WHERE id = ?`, picked.ID).
			Scan(&s.TotalSumm, &s.PurchaseSumm, &s.Profit); err != nil {
			return res, err
		}
		res.Sample = s
	}
	return res, nil
}
