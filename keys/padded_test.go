package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The keyed states of secrets are bounded: past the limit, the oldest
// secret's states are dropped, and that secret still signs (and verifies)
// alike, making them again.
func TestKeyedStatesAreBounded(t *testing.T) {
	saved := padded
	padded = &padRing{limit: 4}
	defer func() { padded = saved }()

	var secrets []Secret
	sigs := map[int]string{}
	for i := range 10 {
		s := NewSecret("secret_value_" + strconv.Itoa(i))
		secrets = append(secrets, s)
		sigs[i] = sign(t, s)
	}
	holding := 0
	for _, s := range secrets {
		if s.v.pads.Load() != nil {
			holding++
		}
	}
	require.Equal(t, 4, holding, "only the last four secrets hold keyed states")
	require.Nil(t, secrets[0].v.pads.Load())
	for i, s := range secrets {
		require.Equal(t, sigs[i], sign(t, s), "secret %d signs alike after its states were dropped", i)
		want := hmac.New(sha256.New, []byte(s.Reveal()))
		want.Write([]byte("GET /x date: Tue, 14 Nov 2023 22:13:20 GMT"))
		require.Equal(t, string(want.Sum(nil)), sigs[i])
	}
}

// sign returns HMAC-SHA256(s, a fixed message) through s's keyed states.
func sign(t *testing.T, s Secret) string {
	t.Helper()
	m := sha256Alg.startSecret(s)
	defer m.release()
	m.writeString("GET /x date: Tue, 14 Nov 2023 22:13:20 GMT")
	return string(m.finish())
}
