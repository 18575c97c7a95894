// Package export is the shape in which an order leaves the service as JSON: the orders API,
// the changes feed and the webhooks' deliveries all send this object, so that a consumer reads
// the same fields whichever way an order reached it.
package export

import "orderimport/internal/store"

// Order has the API's field names (docs/API.md), shared with the CSV columns.
type Order struct {
	OrderID         string   `json:"order_id"`
	OrderDate       string   `json:"order_date"`
	SessionID       string   `json:"session_id"`
	UserID          string   `json:"user_id"`
	ItemCount       string   `json:"item_count"`
	Profit          string   `json:"profit"`
	Revenue         string   `json:"revenue"`
	Comment         string   `json:"comment"`
	ContactName     string   `json:"contact_name"`
	ContactPhone    string   `json:"contact_phone"`
	ContactEmail    string   `json:"contact_email"`
	Tags            []string `json:"tags"`
	Status          string   `json:"status"`
	Site            string   `json:"site"`
	Deleted         bool     `json:"deleted"`
	OrderNumber     string   `json:"order_number"`
	StatusName      string   `json:"status_name"`
	StatusGroup     string   `json:"status_group"`
	StatusGroupName string   `json:"status_group_name"`
	SiteName        string   `json:"site_name"`
	Currency        string   `json:"currency"`
	Counted         bool     `json:"counted"`
	UTMSource       string   `json:"utm_source"`
	UTMMedium       string   `json:"utm_medium"`
	UTMCampaign     string   `json:"utm_campaign"`
	UTMKeyword      string   `json:"utm_keyword"`
	UTMContent      string   `json:"utm_content"`
}

// Namer names the RetailCRM codes of an order of a task: its status, status group and store,
// as the task's RetailCRM reference has them ("" when it does not know one).
type Namer interface {
	Status(taskID int64, code string) string
	Group(taskID int64, code string) string
	Site(taskID int64, code string) string
}

// OrderOf is a stored order as it is exported, its codes named by names (nil: not named).
func OrderOf(o *store.OrderRow, names Namer) Order {
	tags := o.Tags
	if tags == nil {
		tags = []string{}
	}
	out := Order{OrderID: o.OrderID, OrderDate: o.OrderLocal, SessionID: o.SessionID, UserID: o.UserID, ItemCount: o.ItemCount,
		Profit: o.Profit, Revenue: o.Revenue, Comment: o.Comment, ContactName: o.ContactName, ContactPhone: o.ContactPhone,
		ContactEmail: o.ContactEmail, Tags: tags, Status: o.Status, Site: o.Site, Deleted: o.Deleted, OrderNumber: o.OrderNumber,
		StatusGroup: o.StatusGroup, Currency: o.Currency, Counted: o.Counted, UTMSource: o.Source.Source,
		UTMMedium: o.Source.Medium, UTMCampaign: o.Source.Campaign, UTMKeyword: o.Source.Keyword, UTMContent: o.Source.Content}
	if names != nil {
		out.StatusName = names.Status(o.TaskID, o.Status)
		out.StatusGroupName = names.Group(o.TaskID, o.StatusGroup)
		out.SiteName = names.Site(o.TaskID, o.Site)
	}
	return out
}

// Change operations of the feed.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Change is one entry of a counter's changes feed: the order's state after the change, at its
// place in the feed.
type Change struct {
	Seq   string `json:"seq"`
	Op    string `json:"op"`
	Order Order  `json:"order"`
}

// ChangeOf is the feed entry of an order read from the feed.
func ChangeOf(o *store.OrderRow, names Namer) Change {
	op := OpUpsert
	if o.Deleted {
		op = OpDelete
	}
	return Change{Seq: o.Cursor().String(), Op: op, Order: OrderOf(o, names)}
}
