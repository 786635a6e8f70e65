package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lsmstore/lsmstore/sigv4"
)

// client calls the lsmd admin API with SigV4-signed requests.
type client struct {
	endpoint *url.URL
	signer   *sigv4.Signer
	http     *http.Client
}

const adminPath = "/lsm/admin/v1/"

var emptySHA256 = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

func newClient(endpoint, accessKey, secretKey, region string, timeout time.Duration) (*client, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--endpoint %q is not an http(s) URL", endpoint)
	}
	return &client{
		endpoint: u,
		signer:   &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: region},
		http:     &http.Client{Timeout: timeout},
	}, nil
}

// apiError is an error the server answered.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	switch e.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied":
		return fmt.Sprintf("the server refused the credentials (%s): %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// call sends method to the admin API path with query q and decodes the
// JSON answer into out.
func (c *client) call(method, path string, q url.Values, out any) error {
	u := *c.endpoint
	u.Path = strings.TrimSuffix(u.Path, "/") + adminPath + path
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return err
	}
	c.signer.Sign(&sigv4.Message{Method: method, Host: u.Host, Path: u.EscapedPath(), RawQuery: u.RawQuery, Header: req.Header}, emptySHA256, time.Now())
	resp, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("cannot reach lsmd at %s: %w", c.endpoint, err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.endpoint, err)
	}
	if resp.StatusCode >= 300 {
		ae := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(body, ae) != nil || ae.Code == "" {
			return fmt.Errorf("%s answered HTTP %d: %.200s (is it lsmd?)", c.endpoint, resp.StatusCode, body)
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s answered something that is not the admin API's JSON: %w", c.endpoint, err)
	}
	return nil
}
