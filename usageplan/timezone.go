package usageplan

import (
	"errors"
	"fmt"
	"time"
)

// loadLocation is time.LoadLocation. Tests replace it to play a host
// without a time zone database.
var loadLocation = time.LoadLocation

// ErrNoTimeZoneDatabase: a plan names a time zone, and neither the host
// nor the binary has a time zone database to look it up in. A main
// package that imports time/tzdata carries one.
var ErrNoTimeZoneDatabase = errors.New(`no time zone database is available; import _ "time/tzdata" in the main package, or install the tz database (tzdata) on the host`)

// timeZone returns the location a plan's TimeZone names, UTC for "".
//
// Only names of the tz database, spelled as it spells them, are
// accepted, so that every host computes the same calendar windows:
// "Local" (the host's own zone), paths ("Asia//Shanghai", "./UTC",
// "/etc/localtime"), a case the database does not use ("asia/shanghai",
// which loads on a case-insensitive file system), the files that sit
// beside the zones in a zoneinfo directory ("posixrules", "localtime",
// "posix/…", "right/…") and "Factory" (a placeholder, not a place) are
// refused. The database's links, its older names such as "US/Eastern",
// are accepted and looked up as the zone they name ("America/New_York",
// from a table of the links, tzLinks): some hosts do not install them
// (Debian's tzdata-legacy), and a link looked up as itself would load
// on one host and fail on another. A link whose zone the database does
// not know (one older than the zone's new name) is looked up as itself.
func timeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if reason := timeZoneNameReason(name); reason != "" {
		return nil, fmt.Errorf("%q is not an IANA time zone name: %s", name, reason)
	}
	zone := name
	if target, ok := tzLinks[name]; ok {
		zone = target
	}
	loc, err := loadLocation(zone)
	if err != nil && zone != name {
		loc, err = loadLocation(name) // a database older than the zone's name (Europe/Kyiv, 2022)
	}
	if err == nil {
		return loc, nil
	}
	if _, probe := loadLocation("Etc/UTC"); probe != nil {
		return nil, fmt.Errorf("cannot look up %q: %w", name, ErrNoTimeZoneDatabase)
	}
	return nil, fmt.Errorf("%q is not an IANA time zone name: the time zone database has no such zone", name)
}

// timeZoneNameReason checks the spelling of a tz database name: parts
// separated by single slashes, each starting with an upper-case letter
// and made of ASCII letters, digits, '_', '-' and '+'
// ("America/Port-au-Prince", "Etc/GMT+5", "EST5EDT").
func timeZoneNameReason(name string) string {
	switch name {
	case "Local":
		return "it is the host's own time zone, which differs between hosts"
	case "Factory":
		return "it is a placeholder for hosts whose zone is not set"
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			c := name[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+') {
				return "it may contain only letters, digits, '_', '-', '+' and '/'"
			}
			continue
		}
		if i == start {
			return "it has an empty part"
		}
		if c := name[start]; c < 'A' || c > 'Z' {
			return "each part starts with an upper-case letter"
		}
		start = i + 1
	}
	return ""
}
