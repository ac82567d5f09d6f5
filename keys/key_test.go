package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretText = "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(secretText)
	k := Key{ID: "AKIDabc", Name: "n", Secret: s}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "secret", s, "key", k)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", "secret", s, "key", k)
	js, err := json.Marshal(k)
	require.NoError(t, err)
	outputs := []string{
		s.String(), s.GoString(), logs.String(), string(js),
		fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x %X %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", k, k, k), fmt.Sprintf("%v", &k),
	}
	for _, out := range outputs {
		assert.NotContains(t, out, secretText)
		assert.NotContains(t, out, fmt.Sprintf("%x", secretText))
	}
	assert.Contains(t, fmt.Sprint(s), "[REDACTED]")
	assert.Equal(t, secretText, s.Reveal())
}

func TestGenerate(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{1})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	for range 100 {
		k, err := Generate(rng, "app_1", now)
		require.NoError(t, err)
		require.Len(t, k.ID, 40)
		require.True(t, strings.HasPrefix(k.ID, "AKID"))
		require.Len(t, k.Secret.Reveal(), 40)
		for _, c := range k.ID[4:] + k.Secret.Reveal() {
			require.True(t, isAlnum(byte(c)), "character %q", c)
		}
		require.NoError(t, k.Validate())
		require.False(t, seen[k.ID])
		seen[k.ID] = true
		require.Equal(t, now, k.Created)
		require.Equal(t, Enabled, k.Status)
	}
	_, err := Generate(rng, "bad name", now)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "name", fe.Field)

	_, err = Generate(bytes.NewReader(nil), "ok", now)
	require.Error(t, err, "a failing reader is an error")
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name         string
		id, kname, s string
		field        string // "" = valid
	}{
		{"auto key", "AKID" + strings.Repeat("a", 36), "n", strings.Repeat("b", 40), ""},
		{"manual shortest", "ab-_1", "n", "0123456789", ""},
		{"manual longest", strings.Repeat("a", 50), strings.Repeat("N", 50), strings.Repeat("s", 50), ""},
		{"id too short", "abcd", "n", "0123456789", "id"},
		{"id too long", strings.Repeat("a", 51), "n", "0123456789", "id"},
		{"id bad char", "abc.de", "n", "0123456789", "id"},
		{"id unicode", "abcdé", "n", "0123456789", "id"},
		{"name empty", "abcde", "", "0123456789", "name"},
		{"name dash", "abcde", "a-b", "0123456789", "name"},
		{"name too long", "abcde", strings.Repeat("N", 51), "0123456789", "name"},
		{"secret too short", "abcde", "n", "012345678", "secret"},
		{"secret too long", "abcde", "n", strings.Repeat("s", 51), "secret"},
		{"secret bad char", "abcde", "n", "0123456789+", "secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.id, tc.kname, NewSecret(tc.s), time.Time{})
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.field, fe.Field)
			require.NotContains(t, err.Error(), tc.s, "errors never quote the secret")
		})
	}
}

func TestLifecycle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	k, err := New("partner_1", "partner", NewSecret("aaaaaaaaaa"), t0)
	require.NoError(t, err)
	k.SecretEnv = "PARTNER_SECRET"

	r, err := k.Rotate(NewSecret("bbbbbbbbbb"), t1)
	require.NoError(t, err)
	require.Equal(t, "bbbbbbbbbb", r.Secret.Reveal())
	require.Equal(t, k.ID, r.ID)
	require.Equal(t, t1, r.Modified)
	require.Empty(t, r.SecretEnv, "a rotated secret no longer comes from the variable")
	_, err = k.Rotate(NewSecret("short"), t1)
	require.Error(t, err)

	d := k.Disable(t1)
	require.Equal(t, Disabled, d.Status)
	require.Equal(t, t1, d.Modified)
	require.Equal(t, d, d.Disable(t1.Add(time.Hour)), "disabling twice is a no-op")
	_, err = d.Rotate(NewSecret("cccccccccc"), t1)
	require.ErrorIs(t, err, ErrDisabled)
	var se *StateError
	require.True(t, errors.As(err, &se))
	require.Equal(t, "rotate", se.Op)

	e := d.Enable(t1)
	require.Equal(t, Enabled, e.Status)
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{"": Enabled, "enabled": Enabled, "disabled": Disabled} {
		got, err := ParseStatus(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
		if in != "" {
			require.Equal(t, in, got.String())
		}
	}
	_, err := ParseStatus("Disabled")
	require.Error(t, err)
}
