package middleware

import "net/url"

// urlCopy is the handler's URL: the client's, with the environment
// prefix removed from the path.
type urlCopy struct {
	url.URL
}

func (u *urlCopy) set(from *url.URL, path string) {
	u.URL = *from
	u.Path, u.RawPath = path, ""
}
