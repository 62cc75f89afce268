package gcp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/option/internaloption"
	httptransport "google.golang.org/api/transport/http"
	"google.golang.org/protobuf/encoding/protojson"
)

// apiVersion is the x-goog-api-version header the SDK's REST clients
// send (TestListSendsTheSDKsHeaders), which the driver's lists send too.
const apiVersion = "2026-09-01"

// lister sends the batch describe's list calls, the requests the SDK's
// REST clients send for List (same URL, query and headers), through an
// HTTP client and endpoint built from the same options as theirs
// (httptransport.NewClient, with the compute clients' defaults), and
// decodes the pages itself (listjson.go): the REST clients offer no hook
// for their decoding, which was most of an idle leader's CPU.
type lister struct {
	client   *http.Client
	endpoint string
	header   http.Header
	// bufs holds answer buffers, reused across pages: the decoded items
	// copy what they keep out of them.
	bufs sync.Pool
}

// newLister builds the lister from the driver's client options, with the
// defaults the compute REST clients put before them.
func newLister(ctx context.Context, copts []option.ClientOption) (*lister, error) {
	opts := append([]option.ClientOption{
		internaloption.WithDefaultEndpoint("https://compute.googleapis.com"),
		internaloption.WithDefaultEndpointTemplate("https://compute.UNIVERSE_DOMAIN"),
		internaloption.WithDefaultMTLSEndpoint("https://compute.mtls.googleapis.com"),
		internaloption.WithDefaultUniverseDomain("googleapis.com"),
		internaloption.WithDefaultAudience("https://compute.googleapis.com/"),
		internaloption.WithDefaultScopes(compute.DefaultAuthScopes()...),
		internaloption.EnableNewAuthLibrary(),
	}, copts...)
	client, endpoint, err := httptransport.NewClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("x-goog-api-version", apiVersion)
	h.Set("Content-Type", "application/json")
	return &lister{client: client, endpoint: endpoint, header: h, bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}, nil
}

// groups lists one page of a location's instance group managers.
func (l *lister) groups(ctx context.Context, loc location, filter string, pageToken string) (items []*computepb.InstanceGroupManager, next string, err error) {
	err = l.page(ctx, loc, "instanceGroupManagers", filter, pageToken, func(body []byte) error {
		var ok bool
		if items, next, ok = decodeGroupList(body); ok {
			return nil
		}
		var page computepb.InstanceGroupManagerList
		if err := sdkJSON.Unmarshal(body, &page); err != nil {
			return err
		}
		items, next = page.GetItems(), page.GetNextPageToken()
		return nil
	})
	return items, next, err
}

// autoscalers lists one page of a location's autoscalers.
func (l *lister) autoscalers(ctx context.Context, loc location, filter string, pageToken string) (items []*computepb.Autoscaler, next string, err error) {
	err = l.page(ctx, loc, "autoscalers", filter, pageToken, func(body []byte) error {
		var ok bool
		if items, next, ok = decodeAutoscalerList(body); ok {
			return nil
		}
		var page computepb.AutoscalerList
		if err := sdkJSON.Unmarshal(body, &page); err != nil {
			return err
		}
		items, next = page.GetItems(), page.GetNextPageToken()
		return nil
	})
	return items, next, err
}

// sdkJSON is how the SDK's REST clients decode answers.
var sdkJSON = protojson.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}

// page sends one list request and hands the answer's body to decode,
// which must not keep it (the buffer is reused), or returns the error the
// SDK would (googleapi.CheckResponseWithBody: a *googleapi.Error for an
// answer that is not 2xx).
func (l *lister) page(ctx context.Context, loc location, kind, filter, pageToken string, decode func(body []byte) error) error {
	u, err := url.Parse(l.endpoint)
	if err != nil {
		return err
	}
	u.Path += fmt.Sprintf("/compute/v1/%s/%s", loc, kind)
	q := url.Values{}
	if filter != "" {
		q.Add("filter", filter)
	}
	q.Add("maxResults", strconv.Itoa(listPage))
	if pageToken != "" {
		q.Add("pageToken", pageToken)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header = l.header.Clone()
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := l.bufs.Get().(*bytes.Buffer)
	defer l.bufs.Put(buf)
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if err := googleapi.CheckResponseWithBody(resp, buf.Bytes()); err != nil {
		return err
	}
	return decode(buf.Bytes())
}
