package app_test

import (
	"fmt"
	"regexp"
	"testing"

	"orderimport/internal/crmemu"
)

type issueOut struct {
	OrderID     string `json:"order_id"`
	OrderNumber string `json:"order_number"`
	Field       string `json:"field"`
	Value       string `json:"value"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// A run issue names its order as the export does: order_id is the exported order_id (here the
// order's number, as the mapping says, not RetailCRM's internal id) and order_number is
// RetailCRM's number; every issue has a code, and its message is in the reader's language.
func TestRunIssuesJoinTheExport(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 11, Orders: 300})
	c := e.counter()
	task := e.createTask(c, map[string]any{"name": "Заказы", "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey},
		"mapping": map[string]any{"order_id": "number"}})
	run := e.lastRun(task.ID)
	if run.IssuesTotal == 0 {
		t.Fatal("the emulator's orders are expected to have some malformed phones or emails")
	}
	var orders struct {
		Orders []struct {
			OrderID      string `json:"order_id"`
			ContactPhone string `json:"contact_phone"`
			ContactEmail string `json:"contact_email"`
		} `json:"orders"`
	}
	if st := e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders?limit=1000&include_deleted=true", c), nil, &orders); st != 200 {
		t.Fatalf("orders: %d", st)
	}
	exported := map[string]int{}
	for i, o := range orders.Orders {
		exported[o.OrderID] = i
	}
	cyrillic := regexp.MustCompile(`\p{Cyrillic}`)
	var en, ru struct{ Issues []issueOut }
	path := fmt.Sprintf("/api/v1/runs/%d", run.ID)
	if st, body := e.rawLang("GET", path, "", e.token, ""); st != 200 || jsonUnmarshal(body, &en) != nil {
		t.Fatalf("run: %d %s", st, body)
	}
	if st, body := e.rawLang("GET", path, "", e.token, "ru"); st != 200 || jsonUnmarshal(body, &ru) != nil || len(ru.Issues) != len(en.Issues) {
		t.Fatalf("run in Russian: %d %s", st, body)
	}
	for i, is := range en.Issues {
		if is.Code == "" || is.Message == "" || is.OrderNumber == "" || cyrillic.MatchString(is.Message) {
			t.Errorf("issue %+v: want a code, English words and the order's number", is)
		}
		if r := ru.Issues[i]; r.Code != is.Code || !cyrillic.MatchString(r.Message) {
			t.Errorf("issue in Russian %+v (English %+v)", r, is)
		}
		if is.OrderID != is.OrderNumber {
			t.Errorf("issue %+v: order_id is not the exported id (the mapping exports the number)", is)
		}
		j, ok := exported[is.OrderID]
		if !ok {
			t.Errorf("issue %+v: no exported order has this order_id", is)
			continue
		}
		o := orders.Orders[j]
		if (is.Field == "contact_phone" && o.ContactPhone != "") || (is.Field == "contact_email" && o.ContactEmail != "") {
			t.Errorf("issue %+v: the exported order keeps a value the issue says was refused: %+v", is, o)
		}
	}
}
