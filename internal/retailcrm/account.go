package retailcrm

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Credentials is what GET /api/credentials says about the key.
type Credentials struct {
	Scopes         []string // permissions, e.g. "order_read"
	SiteAccess     string   // "access_full" or "access_selective"
	SitesAvailable []string // store codes the key may read when access is selective
	Credentials    []string // deprecated list of API method paths
}

// Can reports whether the key holds scope.
func (c *Credentials) Can(scope string) bool {
	return slices.Contains(c.Scopes, scope)
}

// Require returns a KindAccessDenied error naming every scope the key lacks, or nil.
func (c *Credentials) Require(scopes ...string) error {
	var missing []string
	for _, s := range scopes {
		if !c.Can(s) {
			missing = append(missing, `"`+s+`"`)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &Error{Kind: KindAccessDenied, Endpoint: "GET /api/credentials",
		Message: "the key lacks the permission " + strings.Join(missing, ", ") +
			"; allow it for this key in RetailCRM: Administration → Integration → API access keys"}
}

// Selective reports whether the key is limited to SitesAvailable.
func (c *Credentials) Selective() bool { return c.SiteAccess == "access_selective" }

// Credentials asks RetailCRM what the key may do (GET /api/credentials).
func (c *Client) Credentials(ctx context.Context) (*Credentials, error) {
	v, err := fetch(ctx, c, "/api/credentials", nil, func(r *reader, name string, v *Credentials) (err error) {
		switch name {
		case "scopes":
			v.Scopes, err = r.stringList()
		case "siteAccess":
			v.SiteAccess, err = r.str()
		case "sitesAvailable":
			v.SitesAvailable, err = r.stringList()
		case "credentials":
			v.Credentials, err = r.stringList()
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read key credentials: %w", err)
	}
	return v, nil
}

// Settings are the account-wide settings an import needs.
type Settings struct {
	Timezone        string // IANA name, e.g. "Europe/Moscow"; RetailCRM timestamps are naive in this zone
	DefaultCurrency string // e.g. "RUB"
	SystemLanguage  string // e.g. "RU"

	// TimezoneSetAt is the timezone's "updated_at" ("Y-m-d H:i:s", naive): it moves whenever
	// the zone is set, so a change and its undoing between two reads still show.
	TimezoneSetAt string
}

// Settings reads GET /api/v5/settings.
func (c *Client) Settings(ctx context.Context) (*Settings, error) {
	v, err := fetch(ctx, c, "/api/v5/settings", nil, func(r *reader, name string, v *Settings) error {
		if name != "settings" {
			return r.skip()
		}
		return r.members(func(name []byte) (err error) {
			switch string(name) {
			case "timezone":
				v.Timezone, v.TimezoneSetAt, err = r.setting()
			case "default_currency":
				v.DefaultCurrency, _, err = r.setting()
			case "system_language":
				v.SystemLanguage, _, err = r.setting()
			default:
				err = r.skip()
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read account settings: %w", err)
	}
	return v, nil
}

// setting reads {"value": …, "updated_at": …}, or a bare scalar (no updated_at).
func (r *reader) setting() (value, updatedAt string, err error) {
	if r.dec.PeekKind() != '{' {
		value, err = r.str()
		return value, "", err
	}
	err = r.members(func(name []byte) (err error) {
		switch string(name) {
		case "value":
			value, err = r.str()
		case "updated_at":
			updatedAt, err = r.str()
		default:
			err = r.skip()
		}
		return err
	})
	return value, updatedAt, err
}
