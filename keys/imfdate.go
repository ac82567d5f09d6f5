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
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day || weekdays[t.Weekday()] != s[:3] { // Feb 30 normalises to March
		return time.Time{}, false
	}
	return t, true
}

var weekdays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func monthIndex(m string) int {
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for i := 0; i < len(months); i += 3 {
		if months[i:i+3] == m {
			return i/3 + 1
		}
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
