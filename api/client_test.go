package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

func TestClientRoundTrip(t *testing.T) {
	n := newNode(t, "n1", nil)
	c := api.NewClient(strings.TrimPrefix(n.srv.URL, "http://"), nil) // a bare host:port means http
	ctx := context.Background()

	rec, err := c.PutPolicy(ctx, []byte(webYAML), "application/yaml", "0")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Policy.ID != "web" || rec.Policy.Max != 20 {
		t.Fatalf("put %+v", rec)
	}
	v := strconv.FormatUint(rec.Version, 10)
	if _, err := c.PutPolicy(ctx, []byte(webYAML), "application/yaml", "0"); !errors.Is(err, api.ErrPrecondition) {
		t.Fatalf("create-only over an existing policy: %v", err)
	}
	rec2, err := c.PutPolicy(ctx, []byte(webJSON), "", v)
	if err != nil || rec2.Version <= rec.Version {
		t.Fatalf("conditional update: %+v %v", rec2, err)
	}
	got, err := c.GetPolicy(ctx, "web")
	if err != nil || got.Version != rec2.Version {
		t.Fatalf("get %+v %v", got, err)
	}
	list, err := c.ListPolicies(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	n.b.AddDecisions("web", policy.Record{Action: "scale-out"}, policy.Record{Action: "hold"}, policy.Record{Action: "scale-in"})
	ds, err := c.Decisions(ctx, "web", 2)
	if err != nil || len(ds) != 2 || ds[0].Action != "scale-in" {
		t.Fatalf("decisions %+v %v", ds, err)
	}
	if _, err := c.State(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	res, err := c.PushMetrics(ctx, []api.Sample{
		{Policy: "web", Metric: "cpu", Time: time.Now(), Value: 1},
		{Policy: "web", Metric: "disk", Time: time.Now(), Value: 1},
	})
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("push %+v %v", res, err)
	}
	info, err := c.Cluster(ctx)
	if err != nil || info.Node != "n1" {
		t.Fatalf("cluster %+v %v", info, err)
	}
	if err := c.Join(ctx, api.JoinRequest{ID: "n2", RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8082"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, api.JoinRequest{ID: "n2", RaftAddr: "127.0.0.1:9999", HTTPAddr: "127.0.0.1:8082"}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("conflicting join: %v", err)
	}
	if err := c.RemoveMember(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePolicy(ctx, "web", "1"); !errors.Is(err, api.ErrPrecondition) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := c.DeletePolicy(ctx, "web", strconv.FormatUint(rec2.Version, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPolicy(ctx, "web"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	n := newNode(t, "n1", nil)
	c := api.NewClient(n.srv.URL+"/", nil)
	ctx := context.Background()

	_, err := c.PutPolicy(ctx, []byte("id: web\nmin: 5\nmax: 2\n"), "application/yaml", "")
	var ve *policy.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("invalid policy: %v, want a *policy.ValidationError", err)
	}
	paths := map[string]bool{}
	for _, f := range ve.Fields {
		paths[f.Path] = true
	}
	if !paths["max"] || !paths["target.provider"] || !paths["metrics"] {
		t.Fatalf("fields %+v", ve.Fields)
	}
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != api.CodeInvalidPolicy {
		t.Fatalf("%#v", err)
	}

	// A document with no readable id still reaches the server, which explains.
	_, err = c.PutPolicy(ctx, []byte("[1, 2"), "application/yaml", "")
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidPolicy {
		t.Fatalf("garbage policy: %v", err)
	}

	if _, err := c.Decisions(ctx, "web", 5000); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("bad limit: %v", err)
	}

	n.b.SetLeader(false, "")
	if err := c.DeletePolicy(ctx, "web", ""); !errors.Is(err, api.ErrNoLeader) {
		t.Fatalf("no leader: %v", err)
	}
	n.b.SetNotReady(errors.New("no leader known"))
	if err := c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "no leader known") {
		t.Fatalf("not ready: %v", err)
	}

	// Something that is not Capstan answers: the error keeps its status and text.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad gateway from the proxy", http.StatusBadGateway)
	}))
	defer other.Close()
	_, err = api.NewClient(other.URL, nil).ListPolicies(ctx)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "" || !strings.Contains(ae.Error(), "bad gateway from the proxy") {
		t.Fatalf("foreign error: %v", err)
	}
	// Nothing listens.
	other.Close()
	if _, err := api.NewClient(other.URL, nil).Cluster(ctx); err == nil || errors.As(err, &ae) {
		t.Fatalf("connection refused: %v", err)
	}
}

// TestClientOversizedPolicy: a body refused on its declared length, before
// it is read, still reaches the client as a 413 and not as a broken pipe,
// whether the node serves it or forwards it.
func TestClientOversizedPolicy(t *testing.T) {
	leader := newNode(t, "n1", nil)
	follower := newNode(t, "n2", nil)
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	big := []byte(`{"id":"web","x":"` + strings.Repeat("x", 3<<20) + `"}`)
	for _, n := range []*node{leader, follower} {
		for i := 0; i < 5; i++ {
			_, err := api.NewClient(n.srv.URL, nil).PutPolicy(context.Background(), big, "application/json", "")
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != 413 || ae.Code != api.CodeBodyTooLarge {
				t.Fatalf("%v, want 413 body_too_large", err)
			}
		}
	}
}
