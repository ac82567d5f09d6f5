module github.com/planguard/planguard/redisstore

go 1.25.0

require (
	github.com/planguard/planguard v0.0.0
	github.com/redis/go-redis/v9 v9.19.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)

replace github.com/planguard/planguard => ..
