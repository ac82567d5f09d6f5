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
	if !strings.Contains(pattern, "{") {
		return
	}
	path := r.URL.EscapedPath()
	pat := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range pat {
		if len(p) < 3 || p[0] != '{' || p[len(p)-1] != '}' || p == "{$}" || i >= len(segs) {
			continue
		}
		name := p[1 : len(p)-1]
		value := segs[i]
		if rest, ok := strings.CutSuffix(name, "..."); ok {
			name, value = rest, strings.Join(segs[i:], "/")
		}
		if v, err := url.PathUnescape(value); err == nil {
			r.SetPathValue(name, v)
		}
	}
}
