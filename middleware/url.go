package middleware

import (
	"net/http"
	"net/url"
	"strings"
)

// urlCopy is the handler's URL: the client's, with the environment
// prefix removed from the path.
type urlCopy struct {
	url.URL
}

func (u *urlCopy) set(from *url.URL, path string) {
	u.URL = *from
	u.Path, u.RawPath = path, ""
}

// setPathValues sets r's path values from the wildcards of pattern (a
// ServeMux path pattern that matched r), as http.ServeMux would, so that
// r.PathValue works in the handler.
func setPathValues(r *http.Request, pattern string) {
	if strings.IndexByte(pattern, '{') < 0 {
		return
	}
	path := r.URL.EscapedPath()
	for len(pattern) > 0 && len(path) > 0 && pattern[0] == '/' && path[0] == '/' {
		pattern, path = pattern[1:], path[1:]
		p, seg := segment(pattern), segment(path)
		pattern, path = pattern[len(p):], path[len(seg):]
		if len(p) < 3 || p[0] != '{' || p[len(p)-1] != '}' || p == "{$}" {
			continue
		}
		name := p[1 : len(p)-1]
		if rest, multi := strings.CutSuffix(name, "..."); multi {
			name, seg = rest, seg+path
			path = ""
		}
		if v, err := url.PathUnescape(seg); err == nil {
			r.SetPathValue(name, v)
		}
	}
}

// segment returns s up to its first '/'.
func segment(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}
