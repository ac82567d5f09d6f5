package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRunCountsAndBounds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Workers: 4, Duration: 5 * time.Second, MaxReqs: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Status[200] != 200 || res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("%+v", res)
	}
	if _, err := Run(context.Background(), Config{URL: "http://192.0.2.1/", Workers: 1, Duration: time.Second}); err == nil {
		t.Fatal("a non-loopback target was accepted")
	}
}
