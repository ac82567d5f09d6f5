module github.com/planguard/planguard/examples/server

go 1.26.0

require (
	github.com/planguard/planguard v0.0.0
	github.com/planguard/planguard/boltstore v0.0.0
	github.com/planguard/planguard/observe/prometheus v0.0.0
	github.com/planguard/planguard/redisstore v0.0.0
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.19.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/planguard/planguard => ../..
	github.com/planguard/planguard/boltstore => ../../boltstore
	github.com/planguard/planguard/observe/prometheus => ../../observe/prometheus
	github.com/planguard/planguard/redisstore => ../../redisstore
)
