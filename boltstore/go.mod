module github.com/planguard/planguard/boltstore

go 1.25.0

require (
	github.com/planguard/planguard v0.0.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	golang.org/x/sys v0.45.0 // indirect
)

replace github.com/planguard/planguard => ..
