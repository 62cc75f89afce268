package fake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
)

func newServer(t *testing.T, opts fake.Options) (*fake.Cloud, *httptest.Server, *fake.Client) {
	t.Helper()
	c := fake.New(opts)
	srv := httptest.NewServer(fake.NewHandler(c))
	t.Cleanup(srv.Close)
	return c, srv, fake.NewClient(srv.URL+"/", srv.Client()) // trailing slash on purpose
}

// TestHTTPErrorWire checks the raw responses: status, JSON error body and
// code, as a curl user or another language's client would see them.
func TestHTTPErrorWire(t *testing.T) {
	c, srv, _ := newServer(t, fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	if err := c.InjectFault(fake.Fault{Group: "slowpoke", Err: cloud.ErrThrottled}); err != nil {
		t.Fatal(err)
	}
	if err := c.InjectFault(fake.Fault{Group: "batchpoke", Op: fake.OpDescribeBatch, Err: cloud.ErrThrottled}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code                     string
	}{
		{"unknown group", "GET", "/v1/groups/nope", "", nil, 404, "not_found"},
		{"desired above max", "PUT", "/v1/groups/web/desired", `{"desired":11}`, nil, 400, "invalid"},
		{"desired missing", "PUT", "/v1/groups/web/desired", `{}`, nil, 400, "invalid"},
		{"unknown field", "PUT", "/v1/groups/web/desired", `{"desired":1,"size":2}`, nil, 400, "invalid"},
		{"trailing data", "PUT", "/v1/groups/web/desired", `{"desired":1} {}`, nil, 400, "invalid"},
		{"bad term header", "PUT", "/v1/groups/web/desired", `{"desired":1}`, map[string]string{fake.HeaderTerm: "-1"}, 400, "invalid"},
		{"duplicate create", "POST", "/v1/groups/web", `{"min":0,"max":10,"desired":1}`, nil, 409, "conflict"},
		{"create missing sizes", "POST", "/v1/groups/new", `{"min":0}`, nil, 400, "invalid"},
		{"unknown fault code", "POST", "/v1/faults", `{"err":"on_fire"}`, nil, 400, "invalid"},
		{"bad fault delay", "POST", "/v1/faults", `{"delay":"soon"}`, nil, 400, "invalid"},
		{"bad fault op", "POST", "/v1/faults", `{"op":"delete","err":"throttled"}`, nil, 400, "invalid"},
		{"injected throttle", "PUT", "/v1/groups/slowpoke/desired", `{"desired":1}`, nil, 429, "throttled"},
		{"busy unknown group", "PUT", "/v1/groups/nope/busy", `{"busy":true}`, nil, 404, "not_found"},
		{"batch without groups", "POST", "/v1/describe", `{}`, nil, 400, "invalid"},
		{"batch with an empty name", "POST", "/v1/describe", `{"groups":["web",""]}`, nil, 400, "invalid"},
		{"batch over the limit", "POST", "/v1/describe", `{"groups":[` + strings.Repeat(`"web",`, fake.MaxBatch) + `"web"]}`, nil, 400, "invalid"},
		{"batch naming a throttled group", "POST", "/v1/describe", `{"groups":["web","batchpoke"]}`, nil, 429, "throttled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("error body %+v, want code %q and a message", body.Error, tc.code)
			}
			if strings.HasPrefix(body.Error.Message, "fake cloud:") || strings.HasSuffix(body.Error.Message, "cloud: invalid request") {
				t.Errorf("message %q repeats what the client adds back", body.Error.Message)
			}
		})
	}
	if got := c.Groups(); len(got) != 1 {
		t.Errorf("failed requests created groups: %v", got)
	}
}

func TestHTTPClientHelpers(t *testing.T) {
	c, _, cl := newServer(t, fake.Options{})
	ctx := context.Background()
	if err := cl.CreateGroup(ctx, "web", 1, 10, 2); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateGroup(ctx, "web", 1, 10, 2); !errors.Is(err, cloud.ErrConflict) {
		t.Errorf("creating twice = %v, want ErrConflict", err)
	}
	if err := cl.CreateGroup(ctx, "bad", 3, 2, 2); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("creating with max < min = %v, want ErrInvalid", err)
	}
	groups, err := cl.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cloud.GroupState{Desired: 2, Min: 1, Max: 10, InService: 2}); len(groups) != 1 || groups["web"] != want {
		t.Errorf("Groups = %v, want web: %+v", groups, want)
	}

	if err := cl.SetBusy(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if st := mustState(t, c, "web"); !st.Busy {
		t.Error("SetBusy over HTTP did not mark the group busy")
	}
	if err := cl.SetBusy(ctx, "web", false); err != nil {
		t.Fatal(err)
	}

	// Every fault kind round-trips through InjectFault over HTTP.
	for _, kind := range []error{cloud.ErrNotFound, cloud.ErrInvalid, cloud.ErrThrottled, cloud.ErrUnavailable, cloud.ErrConflict} {
		if err := cl.InjectFault(ctx, fake.Fault{Group: "web", Op: fake.OpSetDesired, Err: kind}); err != nil {
			t.Fatalf("InjectFault(%v): %v", kind, err)
		}
		if err := cl.SetDesired(ctx, ref("web"), 3); !errors.Is(err, kind) {
			t.Errorf("after injecting %v over HTTP, SetDesired = %v", kind, err)
		}
	}
	if err := cl.InjectFault(ctx, fake.Fault{Err: errors.New("boom")}); !errors.Is(err, cloud.ErrInvalid) {
		t.Errorf("injecting a non-sentinel error = %v, want ErrInvalid", err)
	}
	if err := cl.InjectFault(ctx, fake.Fault{Err: cloud.ErrThrottled, Times: -1}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetDesired(ctx, ref("web"), 3); err != nil {
		t.Errorf("after ClearFaults over HTTP: %v", err)
	}

	calls, err := cl.Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Calls(); len(calls) != len(want) || len(calls) == 0 {
		t.Fatalf("Calls over HTTP returned %d entries, the cloud has %d", len(calls), len(want))
	}
	last := calls[len(calls)-1]
	if last.Op != fake.OpSetDesired || last.From != 2 || last.To != 3 || last.Time.IsZero() {
		t.Errorf("last call over HTTP: %+v", last)
	}
}

func TestHTTPCallsEmptyIsArray(t *testing.T) {
	_, srv, _ := newServer(t, fake.Options{})
	resp, err := srv.Client().Get(srv.URL + "/v1/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(data)) != "[]" {
		t.Errorf("empty call log = %q, want []", data)
	}
}

func TestHTTPClientStatusFallback(t *testing.T) {
	// A server that answers without our JSON error body, like a proxy or
	// a router would: the client falls back on the status.
	for _, tc := range []struct {
		status int
		want   error
	}{
		{404, cloud.ErrNotFound},
		{400, cloud.ErrInvalid},
		{403, cloud.ErrInvalid},
		{429, cloud.ErrThrottled},
		{409, cloud.ErrConflict},
		{500, cloud.ErrUnavailable},
		{502, cloud.ErrUnavailable},
		{503, cloud.ErrUnavailable},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>nope</html>", tc.status)
		}))
		err := fake.NewClient(srv.URL, nil).SetDesired(context.Background(), ref("web"), 1)
		srv.Close()
		if !errors.Is(err, tc.want) {
			t.Errorf("status %d: %v, want %v", tc.status, err, tc.want)
		}
	}
}

func TestHTTPClientGarbledResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"desired":`)
	}))
	defer srv.Close()
	if _, err := fake.NewClient(srv.URL, nil).Describe(context.Background(), ref("web")); !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("truncated answer = %v, want ErrUnavailable", err)
	}
}

func TestHTTPClientConnectionErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	cl := fake.NewClient(url, nil)
	_, err := cl.Describe(context.Background(), ref("web"))
	if !errors.Is(err, cloud.ErrUnavailable) || !cloud.Transient(err) {
		t.Errorf("refused connection = %v, want ErrUnavailable", err)
	}
	var netErr interface{ Timeout() bool }
	if !errors.As(err, &netErr) {
		t.Errorf("refused connection = %v, want the original network error wrapped too", err)
	}

	// A timeout (here the context's deadline) is unavailable too.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = fake.NewClient(slow.URL, nil).SetDesired(ctx, ref("web"), 1)
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timed-out call = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
}

func TestGroupRefWithoutGroup(t *testing.T) {
	c, _, cl := newServer(t, fake.Options{AutoCreate: true, DefaultMax: 5})
	for _, d := range []cloud.Driver{fake.NewDriver(c), cl} {
		if err := d.SetDesired(context.Background(), cloud.GroupRef{Provider: "fake"}, 1); !errors.Is(err, cloud.ErrInvalid) {
			t.Errorf("%T: SetDesired without a group name = %v, want ErrInvalid", d, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	for code, want := range map[string]error{
		fake.CodeNotFound: cloud.ErrNotFound, fake.CodeInvalid: cloud.ErrInvalid,
		fake.CodeThrottled: cloud.ErrThrottled, fake.CodeUnavailable: cloud.ErrUnavailable,
		fake.CodeConflict: cloud.ErrConflict,
	} {
		if got := fake.SentinelFor(code); got != want {
			t.Errorf("SentinelFor(%q) = %v, want %v", code, got, want)
		}
		if got := fake.ErrorCode(want); got != code {
			t.Errorf("ErrorCode(%v) = %q, want %q", want, got, code)
		}
	}
	if fake.SentinelFor("nope") != nil || fake.ErrorCode(errors.New("x")) != fake.CodeInternal {
		t.Error("unknown codes and errors should map to nil and internal")
	}
}
