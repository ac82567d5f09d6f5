package usageplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// fill sets every field of v (a pointer) to a value that is not its zero
// value, recursively, so that an encoding that forgets a field loses
// something a round trip notices.
func fill(t *testing.T, v reflect.Value, seed string) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
		return
	case reflect.TypeFor[keys.Secret]():
		v.Set(reflect.ValueOf(keys.NewSecret("secret_" + seed)))
		return
	case reflect.TypeFor[keys.Status]():
		v.Set(reflect.ValueOf(keys.Disabled))
		return
	case reflect.TypeFor[limiter.Period]():
		v.Set(reflect.ValueOf(limiter.Month))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(seed)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(7 + len(seed)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(7 + len(seed)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), seed)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(t, s.Index(0), seed+"0")
		fill(t, s.Index(1), seed+"1")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, seed+"k")
		fill(t, e, seed+"v")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Fatalf("fill: %s has an unexported field %s", v.Type(), f.Name)
			}
			fill(t, v.Field(i), seed+f.Name)
		}
	default:
		t.Fatalf("fill: no value for %s", v.Type())
	}
}

// everyChange returns one change of every kind with every field set.
func everyChange(t *testing.T) []Change {
	out := []Change{
		&ServicePut{}, &ServiceDeleted{}, &KeyAdded{}, &KeyUpdated{}, &KeyEnabled{}, &KeyDisabled{},
		&KeyRotated{}, &KeyDeleted{}, &PlanCreated{}, &PlanUpdated{}, &PlanDeleted{},
		&KeysBound{}, &KeysUnbound{}, &PlanBound{}, &PlanUnbound{}, &PlanDemoted{},
	}
	for i, c := range out {
		v := reflect.ValueOf(c)
		fill(t, v.Elem(), "x")
		out[i] = v.Elem().Interface().(Change)
	}
	return out
}

func TestRecordEncodingRoundTripsEveryField(t *testing.T) {
	changes := everyChange(t)
	kinds := map[string]bool{}
	for _, c := range changes {
		kinds[c.Kind()] = true
	}
	require.Len(t, kinds, 16, "one change of every kind")

	rec := Record{Revision: 42, Time: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC), Changes: changes}
	data, err := json.Marshal(rec)
	require.NoError(t, err)
	var back Record
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, rec.Revision, back.Revision)
	require.True(t, rec.Time.Equal(back.Time))
	require.Len(t, back.Changes, len(changes))
	for i := range changes {
		assert.True(t, reflect.DeepEqual(changes[i], back.Changes[i]), "%s does not round-trip:\n%#v\n%#v", changes[i].Kind(), changes[i], back.Changes[i])
	}
}

func TestRecordEncodingCarriesEveryPlanField(t *testing.T) {
	// The plan of PlanCreated, and the patch of PlanUpdated, field by
	// field: a field added to Plan or PlanPatch but not to the encoding
	// fails here by name.
	for i, f := range reflect.VisibleFields(reflect.TypeFor[Plan]()) {
		var p Plan
		fill(t, reflect.ValueOf(&p).Elem().FieldByIndex(f.Index), "f")
		_ = i
		back := roundTrip(t, PlanCreated{Plan: p}).(PlanCreated)
		assert.True(t, reflect.DeepEqual(p, back.Plan), "Plan.%s is not encoded", f.Name)
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[PlanPatch]()) {
		var pp PlanPatch
		fill(t, reflect.ValueOf(&pp).Elem().FieldByIndex(f.Index), "f")
		back := roundTrip(t, PlanUpdated{ID: "usagePlan-a", PlanPatch: pp}).(PlanUpdated)
		assert.True(t, reflect.DeepEqual(pp, back.PlanPatch), "PlanPatch.%s is not encoded", f.Name)
	}
	// A patch that empties the windows and throttles says so.
	empty, none := []Window{}, map[string]Throttle{}
	back := roundTrip(t, PlanUpdated{ID: "usagePlan-a", PlanPatch: PlanPatch{Limits: &empty, Throttles: &none}}).(PlanUpdated)
	require.NotNil(t, back.Limits)
	require.NotNil(t, back.Throttles)
	require.Empty(t, *back.Limits)
	require.Empty(t, *back.Throttles)
}

func roundTrip(t *testing.T, c Change) Change {
	t.Helper()
	data, err := json.Marshal(Record{Revision: 1, Changes: []Change{c}})
	require.NoError(t, err)
	var back Record
	require.NoError(t, json.Unmarshal(data, &back))
	return back.Changes[0]
}

func TestRecordDecodingRefusesUnknownKindsAndFields(t *testing.T) {
	var rec Record
	require.ErrorContains(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"keyEaten","id":"x"}]}`), &rec), `unknown kind of change "keyEaten"`)
	require.Error(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"keyDeleted","idd":"x"}]}`), &rec))
	require.ErrorContains(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"keyAdded"}]}`), &rec), "without its key")
	// A quota period is one of the limiter's words; another is refused
	// when the record is read, not applied as some other period.
	require.ErrorContains(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"planCreated","planValue":{"id":"usagePlan-a","quotaPeriod":"year"}}]}`), &rec), `"year"`)
	require.ErrorContains(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"planUpdated","id":"usagePlan-a","patch":{"quotaPeriod":"fortnight"}}]}`), &rec), `"fortnight"`)
	require.NoError(t, json.Unmarshal([]byte(`{"revision":1,"changes":[{"kind":"planUpdated","id":"usagePlan-a","patch":{"quotaPeriod":"week"}}]}`), &rec))
	require.Equal(t, limiter.Week, *rec.Changes[0].(PlanUpdated).QuotaPeriod)
}

func TestApplyRevisionsAndChanges(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	base := reg.Snapshot().Revision()
	require.Equal(t, uint64(3), base, "a service and two keys")

	rev, err := reg.Apply(ctx,
		PlanCreated{Plan: Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 10, Quota: 100}},
		KeysBound{Plan: "usagePlan-gold0001", Keys: []string{akid}},
		PlanBound{Plan: "usagePlan-gold0001", Target: binding.Target{Service: svcID, Environment: "release"}},
	)
	require.NoError(t, err)
	require.Equal(t, base+1, rev, "three changes, one revision")
	require.Equal(t, rev, reg.Snapshot().Revision())
	p, ok := reg.Snapshot().Resolve(svcID, "release", apiGet, akid)
	require.True(t, ok)
	require.Equal(t, "usagePlan-gold0001", p.ID)

	rev2, err := reg.Apply(ctx)
	require.NoError(t, err)
	require.Equal(t, rev, rev2, "no change, no revision")

	require.NoError(t, reg.DisableKey("key_two"))
	recs, err := reg.Changes(base)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, base+1, recs[0].Revision)
	require.Equal(t, []string{KindPlanCreated, KindKeysBound, KindPlanBound}, kindsOf(recs[0].Changes))
	require.Equal(t, []Change{KeyDisabled{ID: "key_two"}}, recs[1].Changes)
	require.Equal(t, base+2, recs[1].Revision)

	recs, err = reg.Changes(reg.Snapshot().Revision())
	require.NoError(t, err)
	require.Empty(t, recs)
	recs, err = reg.Changes(0)
	require.NoError(t, err)
	require.Len(t, recs, int(base+2), "every revision from the first")
}

func kindsOf(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Kind()
	}
	return out
}

func TestApplyIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	before := reg.Snapshot()
	_, err := reg.Apply(ctx,
		KeyDisabled{ID: akid},
		PlanCreated{Plan: Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 10, Quota: 100}},
		KeysBound{Plan: "usagePlan-nothere", Keys: []string{"key_two"}},
	)
	require.ErrorIs(t, err, ErrNotFound)
	require.Same(t, before, reg.Snapshot())
	k, _ := reg.Snapshot().Key(akid)
	require.Equal(t, keys.Enabled, k.Status)

	// A rule broken by the result (not by one change) refuses them all too.
	_, err = reg.Apply(ctx, KeyDisabled{ID: akid}, PlanCreated{Plan: Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 0, Quota: 100}})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, ErrInvalid)
	require.Same(t, before, reg.Snapshot())
	_, err = reg.Apply(ctx, nil)
	require.ErrorIs(t, err, ErrInvalid)
	recs, err := reg.Changes(before.Revision())
	require.NoError(t, err)
	require.Empty(t, recs)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = reg.Apply(cctx, KeyDisabled{ID: akid})
	require.ErrorIs(t, err, context.Canceled)
	require.Same(t, before, reg.Snapshot())
}

func TestChangesKeepsTheLastChanges(t *testing.T) {
	opts := testOptions()
	opts.ChangeLog = 3
	reg := NewRegistry(opts)
	for i := range 5 {
		require.NoError(t, reg.AddKey(keys.Key{ID: "key_" + strings.Repeat("x", i+1), Name: "k", Secret: keys.NewSecret("0123456789")}))
	}
	recs, err := reg.Changes(2)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	_, err = reg.Changes(1)
	require.ErrorIs(t, err, ErrCompacted)
}

// A second registry that applies the first's records, encoded and
// decoded, holds the same state: the records are the registry's log.
func TestApplyRecordReplaysAnotherRegistry(t *testing.T) {
	ctx := context.Background()
	src := newTestRegistry(t)
	gold, err := src.CreatePlan(Plan{Name: "gold", QPS: 10, Quota: 100, Burst: 20, Limits: []Window{{Name: "minute", Requests: 50, Per: time.Minute}}})
	require.NoError(t, err)
	require.NoError(t, src.BindKeys(gold.ID, akid, "key_two"))
	require.NoError(t, src.Bind(gold.ID, binding.Target{Service: svcID, Environment: "release"}))
	require.NoError(t, src.Demote(gold.ID, svcID, "release"))
	require.NoError(t, src.Unbind(gold.ID, svcID, "release", apiList))
	_, err = src.PatchPlan(gold.ID, PlanPatch{Throttles: &map[string]Throttle{apiGet: {QPS: 3}}})
	require.NoError(t, err)
	_, err = src.RotateKey(akid)
	require.NoError(t, err)
	require.NoError(t, src.UnbindKeys(gold.ID, "key_two"))
	require.NoError(t, src.DisableKey("key_two"))
	require.NoError(t, src.DeleteKey("key_two"))

	recs, err := src.Changes(0)
	require.NoError(t, err)
	dst := NewRegistry(testOptions())
	for _, rec := range recs {
		data, err := json.Marshal(rec)
		require.NoError(t, err)
		var back Record
		require.NoError(t, json.Unmarshal(data, &back))
		require.NoError(t, dst.ApplyRecord(ctx, back))
	}
	require.Equal(t, src.Snapshot().Revision(), dst.Snapshot().Revision())
	var a, b bytes.Buffer
	require.NoError(t, src.Export(&a))
	require.NoError(t, dst.Export(&b))
	require.JSONEq(t, a.String(), b.String())
	require.Equal(t, src.Snapshot().Plans(), dst.Snapshot().Plans(), "times too")

	err = dst.ApplyRecord(ctx, recs[len(recs)-1])
	require.ErrorIs(t, err, ErrOutOfDate, "a revision applied twice")
}

func TestRefusalsMatchOneVocabulary(t *testing.T) {
	reg := newTestRegistry(t)
	gold, err := reg.CreatePlan(Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 10, Quota: 100, Bindings: []binding.Target{{Service: svcID, Environment: "release"}}}, akid)
	require.NoError(t, err)
	silver, err := reg.CreatePlan(Plan{ID: "usagePlan-silver01", Name: "silver", QPS: 10, Quota: 100, Bindings: []binding.Target{{Service: svcID, Environment: "test", APIs: []string{apiGet}}}}, akid)
	require.NoError(t, err)
	require.NoError(t, reg.AddKey(keys.Key{ID: "key_off", Name: "off", Secret: keys.NewSecret("0123456789"), Status: keys.Disabled}))

	cases := []struct {
		name     string
		do       func() error
		sentinel error
		also     error  // another package's sentinel, or nil
		what, id string // of the *ChangeError
	}{
		{"delete an unknown key", func() error { return reg.DeleteKey("key_none") }, ErrNotFound, keys.ErrNotFound, "key", "key_none"},
		{"disable an unknown key", func() error { return reg.DisableKey("key_none") }, ErrNotFound, keys.ErrNotFound, "key", "key_none"},
		{"delete an unknown plan", func() error { return reg.DeletePlan("usagePlan-none0001") }, ErrNotFound, nil, "plan", "usagePlan-none0001"},
		{"delete an unknown service", func() error { return reg.DeleteService("service-none0001") }, ErrNotFound, nil, "service", "service-none0001"},
		{"add an existing key", func() error { return reg.AddKey(keys.Key{ID: akid, Name: "x", Secret: keys.NewSecret("0123456789")}) }, ErrExists, keys.ErrExists, "key", akid},
		{"create an existing plan", func() error { _, err := reg.CreatePlan(Plan{ID: gold.ID, Name: "x", QPS: 1, Quota: 1}); return err }, ErrExists, nil, "plan", gold.ID},
		{"bind a bound key again", func() error { return reg.BindKeys(gold.ID, akid) }, ErrExists, nil, "key", akid},
		{"delete an enabled key", func() error { return reg.DeleteKey("key_two") }, ErrInvalidState, keys.ErrEnabled, "key", "key_two"},
		{"rotate a disabled key", func() error { _, err := reg.RotateKey("key_off"); return err }, ErrInvalidState, keys.ErrDisabled, "key", "key_off"},
		{"bind a disabled key", func() error { return reg.BindKeys(silver.ID, "key_off") }, ErrInvalidState, keys.ErrDisabled, "key", "key_off"},
		{"unbind APIs of a service-wide binding", func() error { return reg.Unbind(gold.ID, svcID, "release", apiGet) }, ErrInvalidState, nil, "binding", gold.ID},
		{"demote an API-scoped binding", func() error { return reg.Demote(silver.ID, svcID, "test") }, ErrInvalidState, nil, "binding", silver.ID},
		{"demote an absent binding", func() error { return reg.Demote(silver.ID, svcID, "release") }, ErrNotFound, nil, "binding", silver.ID},
		{"unbind an absent binding", func() error { return reg.Unbind(silver.ID, svcID, "release") }, ErrNotFound, nil, "binding", silver.ID},
		{"unbind an unbound key", func() error { return reg.UnbindKeys(silver.ID, "key_two") }, ErrNotFound, nil, "key", "key_two"},
		{"delete a bound plan", func() error { return reg.DeletePlan(gold.ID) }, ErrInUse, nil, "plan", gold.ID},
		{"delete a bound service", func() error { return reg.DeleteService(svcID) }, ErrInUse, nil, "service", svcID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			require.ErrorIs(t, err, tc.sentinel)
			if tc.also != nil {
				require.ErrorIs(t, err, tc.also)
			}
			if tc.also == keys.ErrEnabled || tc.also == keys.ErrDisabled {
				var se *keys.StateError
				require.ErrorAs(t, err, &se, "the key's state names the key")
				require.Equal(t, tc.id, se.Key)
			}
			var ce *ChangeError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.what, ce.What)
			require.Equal(t, tc.id, ce.ID)
			require.Contains(t, err.Error(), tc.id)
		})
	}

	t.Run("delete a bound key", func(t *testing.T) {
		require.NoError(t, reg.AddKey(keys.Key{ID: "key_bound", Name: "b", Secret: keys.NewSecret("0123456789")}))
		require.NoError(t, reg.BindKeys(silver.ID, "key_bound"))
		require.NoError(t, reg.DisableKey("key_bound"))
		err := reg.DeleteKey("key_bound")
		require.ErrorIs(t, err, ErrInUse)
		require.ErrorIs(t, err, keys.ErrInUse)
		var ce *ChangeError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "key_bound", ce.ID)
	})
	t.Run("bind a service environment twice", func(t *testing.T) {
		err := reg.Bind(gold.ID, binding.Target{Service: svcID, Environment: "release"})
		require.ErrorIs(t, err, ErrExists)
		var de *binding.DuplicateError
		require.ErrorAs(t, err, &de)
		require.Equal(t, gold.ID, de.Plan)
	})
	t.Run("exclusivity", func(t *testing.T) {
		err := reg.Bind(silver.ID, binding.Target{Service: svcID, Environment: "release"})
		require.ErrorIs(t, err, ErrConflict)
		var cf *binding.Conflict
		require.ErrorAs(t, err, &cf)
		require.Equal(t, akid, cf.Key)
		require.False(t, errors.Is(err, ErrNotFound))
	})
}

// The log keeps what was applied: changing the caller's values after
// Apply changes nothing in it.
func TestChangesKeepCopies(t *testing.T) {
	reg := newTestRegistry(t)
	ids := []string{akid}
	limits := []Window{{Name: "minute", Requests: 5, Per: time.Minute}}
	_, err := reg.Apply(context.Background(),
		PlanCreated{Plan: Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 10, Quota: 100, Limits: limits}},
		KeysBound{Plan: "usagePlan-gold0001", Keys: ids})
	require.NoError(t, err)
	ids[0] = "changed"
	limits[0].Name = "changed"
	recs, err := reg.Changes(reg.Snapshot().Revision() - 1)
	require.NoError(t, err)
	require.Equal(t, []string{akid}, recs[0].Changes[1].(KeysBound).Keys)
	require.Equal(t, "minute", recs[0].Changes[0].(PlanCreated).Plan.Limits[0].Name)
}

// One FieldError: the registry's invalid fields and the keys package's
// are one type, and Entity says whose field it is.
func TestOneFieldError(t *testing.T) {
	require.Equal(t, reflect.TypeFor[keys.FieldError](), reflect.TypeFor[FieldError]())
	_, err := loadString(t, `{"plans": [{"id": "usagePlan-aaaaaaaa", "name": "bad name"}]}`)
	var fe *keys.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, FieldError{Entity: "plan", Field: "name", Reason: "may contain only letters, digits and '_'"}, *fe)
	require.Equal(t, "name may contain only letters, digits and '_'", fe.Error())

	reg := newTestRegistry(t)
	err = reg.AddKey(keys.Key{ID: "x", Name: "k", Secret: keys.NewSecret("0123456789")})
	var ke *FieldError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, "", ke.Entity, "checked by the keys package")
	require.Equal(t, "id", ke.Field)
}
