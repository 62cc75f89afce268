package controlplane

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/store"
)

func apiToken(t *testing.T, name string, role auth.Role) (auth.Token, string) {
	t.Helper()
	secret, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return auth.Token{Name: name, Role: role, Hash: auth.HashSecret(secret), Rate: 3, Burst: 4,
		CreatedAt: time.Unix(1000, 0).UTC()}, secret
}

func TestFSMTokensCreateDeleteAndConflict(t *testing.T) {
	a := &applier{f: NewFSM(5)}
	ci, _ := apiToken(t, "ci", auth.RoleWrite)
	dash, _ := apiToken(t, "dash", auth.RoleRead)
	for _, tc := range []struct {
		name    string
		payload store.Command
		wantErr error
		want    []string // API token names afterwards
	}{
		{"create", store.CreateToken{Token: tokenToStore(ci)}, nil, []string{"ci"}},
		{"create a second", store.CreateToken{Token: tokenToStore(dash)}, nil, []string{"ci", "dash"}},
		{"same name again", store.CreateToken{Token: tokenToStore(dash)}, api.ErrConflict, []string{"ci", "dash"}},
		{"delete", store.DeleteToken{Name: "ci"}, nil, []string{"dash"}},
		{"delete again", store.DeleteToken{Name: "ci"}, api.ErrNotFound, []string{"dash"}},
	} {
		before := a.f.APITokens()
		res := a.apply(t, tc.payload)
		if !errors.Is(res.failure(), tc.wantErr) {
			t.Fatalf("%s: error %v, want %v", tc.name, res.failure(), tc.wantErr)
		}
		var names []string
		for _, tok := range a.f.APITokens() {
			names = append(names, tok.Name)
			if tok.Origin != auth.OriginAPI {
				t.Fatalf("%s: token %q has origin %q", tc.name, tok.Name, tok.Origin)
			}
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("%s: tokens %v, want %v", tc.name, names, tc.want)
		}
		// A list handed out earlier is never changed under its reader.
		if tc.wantErr == nil && len(before) > 0 && len(a.f.APITokens()) > 0 && &before[0] == &a.f.APITokens()[0] {
			t.Fatalf("%s: the token list was modified in place", tc.name)
		}
	}
}

func TestFSMTokensSurviveSnapshotWithHashesOnly(t *testing.T) {
	a := &applier{f: NewFSM(5)}
	a.apply(t, store.PutPolicy{Policy: testPolicy("web"), At: time.Unix(100, 0).UTC()})
	ci, secret := apiToken(t, "ci", auth.RoleAdmin)
	a.apply(t, store.CreateToken{Token: tokenToStore(ci)})
	data, restored := snapshotRoundTrip(t, a.f)
	if bytes.Contains(data, []byte(secret)) || !bytes.Contains(data, []byte(ci.Hash)) {
		t.Fatalf("the snapshot must hold the hash and never the secret:\n%s", data)
	}
	got := restored.APITokens()
	want := ci
	want.Origin = auth.OriginAPI
	if len(got) != 1 || got[0] != want {
		t.Fatalf("restored tokens %+v, want %+v", got, want)
	}
	w, _ := a.f.dump()
	g, _ := restored.dump()
	if !bytes.Equal(w, g) {
		t.Fatalf("restored state differs:\nwant %s\ngot  %s", w, g)
	}
	// A snapshot from before tokens existed restores with none: the same
	// state as a fresh node's.
	old := NewFSM(5)
	if err := old.Restore(io.NopCloser(strings.NewReader(`{"policies":{},"nodes":{},"intents":0}`))); err != nil {
		t.Fatal(err)
	}
	if len(old.APITokens()) != 0 {
		t.Fatalf("tokens from nowhere: %+v", old.APITokens())
	}
	fresh, _ := NewFSM(5).dump()
	if d, _ := old.dump(); !bytes.Equal(d, fresh) {
		t.Fatalf("a snapshot without tokens restores to another state than a fresh node's")
	}
}
