package main

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// adminSecretEnv holds the SecretKey of -admin-id: an environment
// variable, not a flag, since flags show in ps.
const adminSecretEnv = "PLANGUARD_ADMIN_SECRET"

// withCloudAPI serves the old gateway's Cloud API 3.0 admin actions
// (POST /, signed with TC3-HMAC-SHA256 by -admin-id; every other request
// to / is refused in the Cloud API envelope). With a credential
// configured, the unauthenticated GET Describe queries of a listener
// without one are refused (403): the signed Describe actions answer the
// same questions. Write actions change the registry in managed
// mode, through its journal; in declarative mode the config file is the
// truth, and they answer UnsupportedOperation. DescribeUsageHistory
// reads history: the server's Recorder, which adds what it has not
// written yet to the store's rows.
func withCloudAPI(reg *usageplan.Registry, lim *limiter.Limiter, history cloudapi.History, hosts []string, o options, log *slog.Logger) (http.Handler, error) {
	mode, writes := cloudapi.Declarative, "refused: the config file is the truth (run with -managed to allow them)"
	if o.managed {
		mode, writes = cloudapi.Managed, "applied through the journal"
	}
	if o.adminReadOnly {
		writes = "refused: -admin-read-only"
	}
	cred := cloudapi.Credential{SecretID: o.adminID, SecretKey: keys.NewSecret(os.Getenv(adminSecretEnv)), ReadOnly: o.adminReadOnly}
	// Read once: no process started later inherits it.
	os.Unsetenv(adminSecretEnv)
	api, err := cloudapi.New(reg, []cloudapi.Credential{cred}, cloudapi.Config{
		Hosts: hosts, Mode: mode, Usage: cloudapi.LimiterUsage(lim, reg.Snapshot, nil), History: history})
	if err != nil {
		return nil, err
	}
	log.Info("serving the Cloud API 3.0 admin actions on POST /", "admin_id", o.adminID, "writes", writes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every request to / is the Cloud API's, whatever its method: a
		// GET or form-signed request (HmacSHA1/HmacSHA256) gets the
		// envelope with a code the SDKs read, not the Describe
		// queries' 404.
		if r.URL.Path == "/" {
			api.ServeHTTP(w, r)
			return
		}
		// With a credential configured, nothing on the listener but
		// /metrics (served before this handler) answers without it: the
		// unauthenticated Describe queries are the signed actions now.
		http.Error(w, "this admin listener answers only signed Cloud API 3.0 requests on POST / (the Describe queries are its Describe actions)", http.StatusForbidden)
	}), nil
}
