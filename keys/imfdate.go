package keys

import "time"

// parseIMFFixdate parses exactly "Mon, 02 Jan 2006 15:04:05 GMT" (the
// IMF-fixdate of RFC 9110, always GMT), checking the weekday and ranges.
// It is strict where time.Parse is lenient, and several times faster.
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
		s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || s[26:] != "GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	year, ok2 := digits(s[12:16])
	hour, ok3 := digits(s[17:19])
	minute, ok4 := digits(s[20:22])
	sec, ok5 := digits(s[23:25])
	month := monthIndex(s[8:11])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || month == 0 || hour > 23 || minute > 59 || sec > 59 || day < 1 {
		return time.Time{}, false
	}
	if day > daysIn(month, year) {
		return time.Time{}, false
	}
	days := daysFromCivil(year, month, day)
	if weekdays[((days%7)+7+4)%7] != s[:3] { // 1970-01-01 was a Thursday
		return time.Time{}, false
	}
	return time.Unix(days*86400+int64(hour*3600+minute*60+sec), 0).UTC(), true
}

// daysFromCivil returns the days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (the era arithmetic of Howard Hinnant's
// days_from_civil), without time.Date's normalising round trip.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                     // [0, 399]
	doy := (153*((m+9)%12)+2)/5 + d - 1    // day of a year starting in March
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return int64(era)*146097 + int64(doe) - 719468
}

// daysIn returns the length of month m of year y.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

var weekdays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// monthIndex returns 1–12 for "Jan"–"Dec", else 0. (A switch compiles
// to a binary search; a scan of twelve names cost a third of the parse.)
func monthIndex(m string) int {
	switch m {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
