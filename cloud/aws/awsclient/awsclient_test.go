package awsclient

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

type recorder struct{ got *http.Request }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestMemoryBodyBuffersTheBody(t *testing.T) {
	rec := &recorder{}
	req, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(strings.NewReader("Action=Describe")))
	if _, err := (MemoryBody{Next: rec}).Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.got.Body.(io.ReadCloser); !ok || rec.got.ContentLength != int64(len("Action=Describe")) {
		t.Fatalf("forwarded %+v", rec.got)
	}
	body, _ := io.ReadAll(rec.got.Body)
	again, _ := rec.got.GetBody()
	body2, _ := io.ReadAll(again)
	if string(body) != "Action=Describe" || !bytes.Equal(body, body2) {
		t.Fatalf("body %q, GetBody %q", body, body2)
	}
	big, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(bytes.NewReader(make([]byte, MaxRequestBody+1))))
	if _, err := (MemoryBody{Next: rec}).Do(big); err == nil {
		t.Fatal("an oversized body was sent")
	}
}
