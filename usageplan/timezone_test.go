package usageplan

import (
	"archive/zip"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/internal/tzless"
)

func planWithZone(zone string) string {
	return `{"plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "quota": 10, "quotaPeriod": "day", "timeZone": "` + zone + `"}]}`
}

func TestTimeZonesThatDependOnTheHostAreRefused(t *testing.T) {
	for _, zone := range []string{
		"Local", "Asia//Shanghai", "./UTC", "posixrules", "Factory", "localtime",
		"asia/shanghai", "UTC/", "/UTC", "/usr/share/zoneinfo/UTC", "Etc/../UTC", "../zoneinfo/UTC",
		"right/UTC", "posix/Asia/Shanghai", "Asia/Shanghai ", "zone.tab", "Asia\\Shanghai",
	} {
		t.Run(zone, func(t *testing.T) {
			_, err := loadString(t, planWithZone(strings.ReplaceAll(zone, `\`, `\\`)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plans[0].timeZone: ")
			assert.Contains(t, err.Error(), "is not an IANA time zone name")
		})
	}
}

// TestEveryZoneOfTheDatabaseIsAccepted: the spelling rules accept every
// name of the tz database Go ships (links included), except Factory.
func TestEveryZoneOfTheDatabaseIsAccepted(t *testing.T) {
	z, err := zip.OpenReader(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
	require.NoError(t, err)
	defer z.Close()
	n := 0
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") || f.Name == "Factory" {
			continue
		}
		n++
		loc, err := timeZone(f.Name)
		want := f.Name
		if target, ok := tzLinks[f.Name]; ok {
			want = target // a link is looked up as its zone
		}
		if assert.NoError(t, err) {
			assert.Equal(t, want, loc.String())
		}
	}
	require.Greater(t, n, 500)
	reg, err := loadString(t, planWithZone("Asia/Shanghai"))
	require.NoError(t, err)
	loc, _ := reg.Snapshot().PlanLocation("usagePlan-aaaaaaaa")
	assert.Equal(t, "Asia/Shanghai", loc.String())
}

// A link of the tz database (an older name) loads on a host that does
// not install the links (Debian's tzdata-legacy): it is looked up as the
// zone it names, whose rules are the link's (checked against the
// database Go ships, which has both).
func TestTimeZoneLinksDoNotDependOnTheHost(t *testing.T) {
	instants := []time.Time{
		time.Date(2020, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(2020, 7, 15, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC),
	}
	require.Greater(t, len(tzLinks), 100)
	for link, target := range tzLinks {
		l, err := time.LoadLocation(link)
		require.NoError(t, err, link)
		z, err := time.LoadLocation(target)
		require.NoError(t, err, target)
		for _, at := range instants {
			_, lo := at.In(l).Zone()
			_, zo := at.In(z).Zone()
			require.Equal(t, lo, zo, "%s and %s at %v", link, target, at)
		}
	}

	defer func(l func(string) (*time.Location, error)) { loadLocation = l }(loadLocation)
	loadLocation = func(name string) (*time.Location, error) {
		if _, link := tzLinks[name]; link {
			return nil, errors.New("unknown time zone " + name) // no legacy links on this host
		}
		return time.LoadLocation(name)
	}
	reg, err := loadString(t, planWithZone("US/Eastern"))
	require.NoError(t, err)
	loc, _ := reg.Snapshot().PlanLocation("usagePlan-aaaaaaaa")
	assert.Equal(t, "America/New_York", loc.String())
	p, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
	assert.Equal(t, "US/Eastern", p.TimeZone, "the plan keeps the name it was given")

	// A database from before a zone's rename (Europe/Kiev became a link
	// to Europe/Kyiv in 2022) has the link's name only.
	loadLocation = func(name string) (*time.Location, error) {
		if name == "Europe/Kyiv" {
			return nil, errors.New("unknown time zone " + name)
		}
		return time.LoadLocation(name)
	}
	loc, err = timeZone("Europe/Kiev")
	require.NoError(t, err)
	assert.Equal(t, "Europe/Kiev", loc.String())
}

func TestNoTimeZoneDatabaseIsNamedAsSuch(t *testing.T) {
	defer func(l func(string) (*time.Location, error)) { loadLocation = l }(loadLocation)
	loadLocation = func(name string) (*time.Location, error) {
		if name == "UTC" { // as time.LoadLocation without a database
			return time.UTC, nil
		}
		return nil, errors.New("unknown time zone " + name)
	}
	_, err := loadString(t, planWithZone("Asia/Shanghai"))
	require.ErrorIs(t, err, ErrNoTimeZoneDatabase)
	assert.Contains(t, err.Error(), `plans[0].timeZone: cannot look up "Asia/Shanghai": no time zone database is available`)
	assert.NotContains(t, err.Error(), "not an IANA time zone name")
}

// TestNoTimeZoneDatabaseForReal loads a plan in Asia/Shanghai in a process
// that has no time zone database (usageplan does not embed one: the main
// package decides).
func TestNoTimeZoneDatabaseForReal(t *testing.T) {
	if !tzless.Child() {
		tzless.Run(t)
		return
	}
	_, err := time.LoadLocation("Asia/Shanghai")
	require.Error(t, err, "the child has no time zone database")
	_, err = loadString(t, planWithZone("Asia/Shanghai"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no time zone database is available")
	_, err = loadString(t, planWithZone("Mars/Olympus"))
	assert.Contains(t, err.Error(), "no time zone database is available", "without a database, no name can be told unknown")
	_, err = loadString(t, planWithZone("Local"))
	assert.Contains(t, err.Error(), `"Local" is not an IANA time zone name`)
}
