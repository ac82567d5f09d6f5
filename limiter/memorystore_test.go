package limiter_test

import (
	"testing"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) limiter.Store { return &limiter.MemoryStore{} })
}
