module github.com/planguard/planguard/bench

go 1.25.0

replace (
	github.com/planguard/planguard => ..
	github.com/planguard/planguard/boltstore => ../boltstore
	github.com/planguard/planguard/redisstore => ../redisstore
)

require (
	github.com/go-redis/redis_rate/v10 v10.0.1
	github.com/planguard/planguard v0.0.0
	github.com/planguard/planguard/boltstore v0.0.0
	github.com/planguard/planguard/redisstore v0.0.0
	github.com/redis/go-redis/v9 v9.19.0
	github.com/sethvargo/go-limiter v0.7.1
	github.com/throttled/throttled/v2 v2.15.0
	github.com/ulule/limiter/v3 v3.11.2
	golang.org/x/time v0.15.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru v0.5.4 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
