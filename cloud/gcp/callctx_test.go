package gcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// TestListStopsWhenCancelled: a batch describe whose context is cancelled
// while it lists a zone of three pages (each page held 300 ms at the
// server, the cancel 100 ms into the second) stops promptly and sends no
// page after the cancel, and gives up the page in flight, on either client:
// the driver sends the batch describe's list pages itself, under the
// caller's context (list.go). Before, the list went on to its last page
// whatever the context said.
func TestListStopsWhenCancelled(t *testing.T) {
	const page = 300 * time.Millisecond
	cases := []struct {
		name       string
		httpClient bool
		// within is how long after the cancel DescribeBatch may return:
		// loose bounds (a -race run on a loaded machine decodes a page of
		// 500 groups in hundreds of milliseconds); the pages the server
		// saw are the sharp check.
		within time.Duration
		// pageCancelled: the server saw the page in flight given up.
		pageCancelled bool
	}{
		{"through Options.HTTPClient: the page in flight is cancelled", true, page, true},
		{"on the SDK's own client: the page in flight is cancelled too", false, page, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := gcpemu.New(gcpemu.Options{})
			var lists, givenUp, cancelledAt atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/instanceGroupManagers") {
					if lists.Add(1) == 2 {
						time.AfterFunc(page/3, func() { // during the second page
							cancelledAt.Store(time.Now().UnixNano())
							cancel()
						})
					}
					if r.Header.Get("X-Capstan-Call") != "" {
						t.Errorf("the driver's call header reached the API: %v", r.Header)
					}
					select {
					case <-time.After(page):
					case <-r.Context().Done():
						givenUp.Add(1)
						return
					}
				}
				emu.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			opts := gcp.Options{Endpoint: srv.URL, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}}
			if tc.httpClient {
				opts.HTTPClient = &http.Client{}
			}
			d, err := gcp.New(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			refs := mkGroups(t, emu, testProject, "us-central1-a", "g", 1200) // 3 pages of 500
			got, err := d.DescribeBatch(ctx, refs)
			returned := time.Now()
			<-ctx.Done()
			if late := returned.Sub(time.Unix(0, cancelledAt.Load())); late > tc.within {
				t.Errorf("DescribeBatch returned %s after the cancel, want within %s", late, tc.within)
			}
			if err != nil {
				t.Fatalf("DescribeBatch: %v, want the groups' errors", err)
			}
			for i, g := range got {
				if !errors.Is(g.Err, context.Canceled) {
					t.Fatalf("group %d: %+v, want an error wrapping context.Canceled", i, g)
				}
			}
			time.Sleep(page) // a page sent after the cancel would have arrived
			if n := lists.Load(); n != 2 {
				t.Errorf("the server saw %d list pages, want 2 (none after the cancel)", n)
			}
			if n := givenUp.Load(); (n == 1) != tc.pageCancelled {
				t.Errorf("%d pages given up in flight, want the page in flight given up: %v", n, tc.pageCancelled)
			}
		})
	}
}

// TestListKeepsTheClientTimeout: a list page sent under its call's
// context still ends at Options.HTTPClient's Timeout, as every other
// request of the driver does (a guard: the client ends it through the
// request's Cancel channel as well as its context, so dropping either
// alone does not fail this).
func TestListKeepsTheClientTimeout(t *testing.T) {
	emu := gcpemu.New(gcpemu.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/instanceGroupManagers") {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond},
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	refs := mkGroups(t, emu, testProject, "us-central1-a", "g", 3)
	start := time.Now()
	got, err := d.DescribeBatch(context.Background(), refs)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("DescribeBatch took %s, want the client's 200ms timeout to end the held list", took)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if g.Err == nil {
			t.Errorf("group %d answered from a list that never came back", i)
		}
	}
}
