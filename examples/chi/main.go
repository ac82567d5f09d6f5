// Command chi mounts planguard on a go-chi router: the middleware goes in
// r.Use like any other, and chi routes what it admits.
//
//	go run ./examples/chi -config ../server/testdata/config.json -addr 127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

func main() {
	configPath := flag.String("config", "", "planguard config file (required)")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	f, err := os.Open(*configPath)
	if err != nil {
		log.Fatal(err)
	}
	reg, err := usageplan.LoadConfig(f, usageplan.RegistryConfig{})
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close(context.Background())
	router, err := newRouter(reg, lim)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: router, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	log.Fatal(srv.ListenAndServe())
}

// newRouter is a chi router whose routes all sit behind planguard, in the
// release environment.
func newRouter(reg *usageplan.Registry, lim *limiter.Limiter) (http.Handler, error) {
	guard, err := middleware.New(reg, lim, middleware.Config{Environment: usageplan.EnvRelease})
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(guard.Wrap)
	r.Get("/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Read what the client sent (a body left unread makes the server
		// reset a connection it closes).
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
		c, _ := middleware.FromContext(r.Context())
		fmt.Fprintf(w, "order %s for %s under %s", chi.URLParam(r, "id"), c.SecretID, c.Plan.Name)
	})
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	return r, nil
}
