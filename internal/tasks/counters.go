package tasks

import (
	"context"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// CounterInput is a new counter as sent by a user; a nil timezone takes the default.
type CounterInput struct {
	Name     *string `json:"name"`
	Timezone *string `json:"timezone"`
}

// CreateCounter validates and saves a counter.
func (s *Service) CreateCounter(ctx context.Context, accountID int64, in CounterInput) (store.Counter, error) {
	if err := access.Require(ctx, accountID, access.EditCounters); err != nil {
		return store.Counter{}, err
	}
	name, tz, err := ValidateCounter(in)
	if err != nil {
		return store.Counter{}, err
	}
	return s.Store.CreateCounter(ctx, accountID, name, tz)
}

// ValidateCounter checks a counter's name and timezone and returns them cleaned.
func ValidateCounter(in CounterInput) (name, tz string, err error) {
	var bad problems
	name, _ = checkName(in.Name, locale.M("counter_name_required"), &bad)
	tz = DefaultTimezone
	if in.Timezone != nil && strings.TrimSpace(*in.Timezone) != "" {
		tz = strings.TrimSpace(*in.Timezone)
	}
	if !ValidTimezone(tz) {
		bad.add("timezone", locale.M("timezone_invalid", "value", clip(tz)))
	}
	return name, tz, bad.err()
}

// ValidTimezone reports an IANA zone name (not "Local", which means the server's zone).
func ValidTimezone(tz string) bool {
	if tz == "" || tz == "Local" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// Timezones are the zones the UI offers for a counter: Russia's zones west to east, then
// neighbours and UTC. The API takes any IANA name.
var Timezones = []string{
	"Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
	"Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
	"Asia/Magadan", "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "Asia/Tashkent", "Asia/Tbilisi",
	"Asia/Yerevan", "Asia/Baku", "Europe/Istanbul", "Europe/Berlin", "Europe/London", "UTC",
}
