package retailcrm

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
)

// Site is a store of the account (GET /api/v5/reference/sites).
type Site struct {
	ID         int64
	Code       string
	Name       string
	URL        string
	Currency   string
	CountryIso string
	Ordering   int
}

// Sites lists the account's stores, sorted by ordering then code.
func (c *Client) Sites(ctx context.Context) ([]Site, error) {
	v, err := fetch(ctx, c, "/api/v5/reference/sites", nil, func(r *reader, name string, v *[]Site) error {
		if name != "sites" {
			return r.skip()
		}
		return r.elements(func(key []byte) error {
			s := Site{Code: string(key)}
			err := r.members(func(name []byte) (err error) {
				switch string(name) {
				case "id":
					s.ID, err = r.int()
				case "code":
					s.Code, err = r.str()
				case "name":
					s.Name, err = r.str()
				case "url":
					s.URL, err = r.str()
				case "currency":
					s.Currency, err = r.str()
				case "countryIso":
					s.CountryIso, err = r.str()
				case "ordering":
					s.Ordering, err = r.intValue()
				default:
					err = r.skip()
				}
				return err
			})
			if s.Code != "" {
				*v = append(*v, s)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read stores: %w", err)
	}
	slices.SortFunc(*v, func(a, b Site) int { return cmp.Or(cmp.Compare(a.Ordering, b.Ordering), cmp.Compare(a.Code, b.Code)) })
	return *v, nil
}

// Status is an order status (GET /api/v5/reference/statuses).
type Status struct {
	Code     string
	Name     string
	Group    string // status group code: new, approval, assembling, delivery, complete, cancel, …
	Active   bool
	Ordering int
}

// Statuses lists order statuses, sorted by ordering then code.
func (c *Client) Statuses(ctx context.Context) ([]Status, error) {
	v, err := fetch(ctx, c, "/api/v5/reference/statuses", nil, func(r *reader, name string, v *[]Status) error {
		if name != "statuses" {
			return r.skip()
		}
		return r.elements(func(key []byte) error {
			s := Status{Code: string(key)}
			err := r.members(func(name []byte) (err error) {
				switch string(name) {
				case "code":
					s.Code, err = r.str()
				case "name":
					s.Name, err = r.str()
				case "group":
					s.Group, err = r.str()
				case "active":
					s.Active, err = r.bool()
				case "ordering":
					s.Ordering, err = r.intValue()
				default:
					err = r.skip()
				}
				return err
			})
			if s.Code != "" {
				*v = append(*v, s)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read order statuses: %w", err)
	}
	slices.SortFunc(*v, func(a, b Status) int { return cmp.Or(cmp.Compare(a.Ordering, b.Ordering), cmp.Compare(a.Code, b.Code)) })
	return *v, nil
}

// StatusGroup is a group of order statuses (GET /api/v5/reference/status-groups).
type StatusGroup struct {
	Code     string
	Name     string
	Active   bool
	Process  bool // "in progress" groups, as opposed to new / complete / cancel
	Ordering int
	Statuses []string // status codes in the group
}

// StatusGroups lists status groups, sorted by ordering then code.
func (c *Client) StatusGroups(ctx context.Context) ([]StatusGroup, error) {
	v, err := fetch(ctx, c, "/api/v5/reference/status-groups", nil, func(r *reader, name string, v *[]StatusGroup) error {
		if name != "statusGroups" {
			return r.skip()
		}
		return r.elements(func(key []byte) error {
			g := StatusGroup{Code: string(key)}
			err := r.members(func(name []byte) (err error) {
				switch string(name) {
				case "code":
					g.Code, err = r.str()
				case "name":
					g.Name, err = r.str()
				case "active":
					g.Active, err = r.bool()
				case "process":
					g.Process, err = r.bool()
				case "ordering":
					g.Ordering, err = r.intValue()
				case "statuses":
					g.Statuses, err = r.stringList()
				default:
					err = r.skip()
				}
				return err
			})
			if g.Code != "" {
				*v = append(*v, g)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read status groups: %w", err)
	}
	slices.SortFunc(*v, func(a, b StatusGroup) int {
		return cmp.Or(cmp.Compare(a.Ordering, b.Ordering), cmp.Compare(a.Code, b.Code))
	})
	return *v, nil
}

// CustomField describes a custom field (GET /api/v5/custom-fields).
type CustomField struct {
	Code       string // the key in order.customFields
	Name       string
	Type       string // string, text, integer, numeric, boolean, date, email, dictionary, multiselect_dictionary, …
	Entity     string // order, customer, …
	Dictionary string // dictionary code for dictionary types
	Ordering   int
}

// listPage is one page of a small paged list (custom fields, dictionaries).
type listPage[T any] struct {
	pagination Pagination
	items      []T
}

// CustomFields lists the custom fields of entity ("order", "customer"; "" for all), walking
// every page.
func (c *Client) CustomFields(ctx context.Context, entity string) ([]CustomField, error) {
	q := url.Values{}
	if entity != "" {
		q.Set("filter[entity]", entity)
	}
	out, err := walkPages(ctx, c, "/api/v5/custom-fields", q, "customFields", func(r *reader) (CustomField, error) {
		var f CustomField
		err := r.members(func(name []byte) (err error) {
			switch string(name) {
			case "code":
				f.Code, err = r.str()
			case "name":
				f.Name, err = r.str()
			case "type":
				f.Type, err = r.str()
			case "entity":
				f.Entity, err = r.str()
			case "dictionary":
				f.Dictionary, err = r.str()
			case "ordering":
				f.Ordering, err = r.intValue()
			default:
				err = r.skip()
			}
			return err
		})
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read custom fields: %w", err)
	}
	return out, nil
}

// walkPages reads a small paged list (limit 100) to its end.
func walkPages[T any](ctx context.Context, c *Client, path string, q url.Values, member string, item func(*reader) (T, error)) ([]T, error) {
	var out []T
	q.Set("limit", "100")
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		p, err := fetch(ctx, c, path, q, func(r *reader, name string, p *listPage[T]) error {
			switch name {
			case "pagination":
				return r.pagination(&p.pagination)
			case member:
				return r.elements(func([]byte) error {
					if r.dec.PeekKind() != '{' {
						return r.skip()
					}
					v, err := item(r)
					p.items = append(p.items, v)
					return err
				})
			}
			return r.skip()
		})
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		out = append(out, p.items...)
		if len(p.items) == 0 || page >= p.pagination.TotalPageCount {
			return out, nil
		}
	}
}
