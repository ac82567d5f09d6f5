module github.com/planguard/planguard/examples/chi

go 1.25.0

require github.com/planguard/planguard v0.0.0

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
)

replace github.com/planguard/planguard => ../..
