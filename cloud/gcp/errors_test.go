package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"github.com/capstan-io/capstan/cloud"
)

func TestClassify(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	api := func(code int, reasons ...string) error {
		e := &googleapi.Error{Code: code, Message: "m"}
		for _, r := range reasons {
			e.Errors = append(e.Errors, googleapi.ErrorItem{Reason: r})
		}
		return e
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want []error // all must match
		not  []error // none may match
	}{
		{"404", live, api(404, "notFound"), []error{cloud.ErrNotFound}, nil},
		{"400 invalid", live, api(400, "invalid"), []error{cloud.ErrInvalid}, []error{cloud.ErrConflict}},
		{"400 resourceNotReady", live, api(400, "resourceNotReady"), []error{cloud.ErrConflict}, []error{cloud.ErrInvalid}},
		{"409", live, api(409), []error{cloud.ErrConflict}, nil},
		{"412", live, api(412, "conditionNotMet"), []error{cloud.ErrConflict}, nil},
		{"429", live, api(429, "rateLimitExceeded"), []error{cloud.ErrThrottled}, nil},
		{"403 userRateLimitExceeded", live, api(403, "userRateLimitExceeded"), []error{cloud.ErrThrottled}, nil},
		{"403 forbidden", live, api(403, "forbidden"), nil, []error{cloud.ErrThrottled, cloud.ErrInvalid, cloud.ErrUnavailable}},
		{"500", live, api(500), []error{cloud.ErrUnavailable}, nil},
		{"502", live, api(502), []error{cloud.ErrUnavailable}, nil},
		{"connection", live, fmt.Errorf("dial tcp: %w", io.ErrUnexpectedEOF), []error{cloud.ErrUnavailable, io.ErrUnexpectedEOF}, nil},
		{"cancelled", cancelled, fmt.Errorf("Get x: %w", context.Canceled), []error{context.Canceled}, []error{cloud.ErrUnavailable, cloud.ErrThrottled}},
		{"cancelled with an API error", cancelled, api(503), []error{context.Canceled}, []error{cloud.ErrUnavailable}},
		{"deadline", expired, fmt.Errorf("Get x: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded, cloud.ErrUnavailable}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.ctx, "get g", tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap the original error", got)
			}
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Errorf("%v is not %v", got, w)
				}
			}
			for _, n := range tc.not {
				if errors.Is(got, n) {
					t.Errorf("%v is %v", got, n)
				}
			}
		})
	}
}

func TestOperationFailure(t *testing.T) {
	done := computepb.Operation_DONE.Enum()
	for _, tc := range []struct {
		name string
		op   *computepb.Operation
		want *OperationError
	}{
		{"running", &computepb.Operation{Name: proto.String("op"), Status: computepb.Operation_RUNNING.Enum()}, nil},
		{"done", &computepb.Operation{Name: proto.String("op"), Status: done}, nil},
		{"done 200", &computepb.Operation{Name: proto.String("op"), Status: done, HttpErrorStatusCode: proto.Int32(200)}, nil},
		{"errors only", &computepb.Operation{Name: proto.String("op"), Status: done, Error: &computepb.Error{Errors: []*computepb.Errors{{Code: proto.String("QUOTA_EXCEEDED"), Message: proto.String("Quota 'CPUS' exceeded")}}}},
			&OperationError{Name: "op", Errors: []OperationErrorItem{{"QUOTA_EXCEEDED", "Quota 'CPUS' exceeded"}}}},
		{"status only", &computepb.Operation{Name: proto.String("op"), Status: done, HttpErrorStatusCode: proto.Int32(400), HttpErrorMessage: proto.String("BAD REQUEST")},
			&OperationError{Name: "op", HTTPStatus: 400, Errors: []OperationErrorItem{{"Bad Request", "BAD REQUEST"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := operationFailure(tc.op)
			if (got == nil) != (tc.want == nil) || (got != nil && got.Error() != tc.want.Error()) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseAutoscalerLink(t *testing.T) {
	for link, want := range map[string]autoscalerRef{
		"https://www.googleapis.com/compute/v1/projects/my-proj/zones/us-east1-c/autoscalers/web": {"my-proj", "us-east1-c", false, "web"},
		"http://127.0.0.1:4000/compute/v1/projects/my-proj/regions/us-east1/autoscalers/web-as":   {"my-proj", "us-east1", true, "web-as"},
	} {
		got, err := parseAutoscalerLink(link)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", link, got, err, want)
		}
	}
	for _, link := range []string{
		"",
		"https://www.googleapis.com/compute/v1/projects/my-proj/global/autoscalers/web",
		"https://www.googleapis.com/compute/v1/projects/my-proj/zones/us-east1-c/autoscalers/web/extra",
		"https://www.googleapis.com/compute/v1/projects/my-proj/zones/us-east1-c/autoscalers/..",
	} {
		if got, err := parseAutoscalerLink(link); err == nil {
			t.Errorf("%q accepted as %+v", link, got)
		}
	}
}
